"""The regularized autoencoders: each penalty and corruption against an independent computation,
then each regularizer, briefly trained on mnist_5k, against the plain `ae` of the same size."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_vae.models import AE, ContractiveAE, DenoisingAE, KSparseAE, SparseAE
from keras_vae.models.ae.sparse import KSparse

D = 28 * 28


def squared_jacobian_norms(model, x):
    """||J||_F^2 per example from the full Jacobian: the reference for every method."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        code = model.code(x)
    return np.square(tape.batch_jacobian(code, x).numpy()).sum(axis=(1, 2, 3, 4))


def bce(target, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -(target * np.log(p) + (1 - target) * np.log1p(-p)).sum(axis=(1, 2, 3))


def test_masking_zeroes_a_fixed_fraction_of_dimensions_chosen_uniformly():
    model = DenoisingAE(latent_dim=4, corruption="masking", noise_level=0.3, seed=0)
    corrupted = model.corrupt(np.ones((2000, 28, 28, 1), np.float32)).numpy().reshape(2000, D)
    assert set(np.unique(corrupted)) == {0.0, 1.0}  # the rest is left as it was
    zeroed = corrupted == 0
    np.testing.assert_array_equal(zeroed.sum(axis=1), round(0.3 * D))  # exactly, in every example
    # Each dimension is chosen with probability 0.3: within 5 binomial standard errors everywhere.
    assert np.abs(zeroed.mean(axis=0) - 0.3).max() < 5 * np.sqrt(0.3 * 0.7 / 2000)


def test_gaussian_noise_has_the_requested_sigma_and_salt_and_pepper_flips_fair_coins(mnist_5k):
    x = mnist_5k.x_train[:1000]
    noise = DenoisingAE(latent_dim=4, corruption="gaussian", noise_level=0.2, seed=0).corrupt(x).numpy() - x
    assert noise.std() == pytest.approx(0.2, rel=0.005)  # 784,000 draws: standard error 0.07%
    assert abs(noise.mean()) < 4 * 0.2 / np.sqrt(noise.size)
    halves = np.full((1000, 28, 28, 1), 0.5, np.float32)
    salted = DenoisingAE(latent_dim=4, corruption="salt_and_pepper", noise_level=0.1, seed=0).corrupt(halves).numpy()
    destroyed = salted.reshape(1000, D) != 0.5
    np.testing.assert_array_equal(destroyed.sum(axis=1), round(0.1 * D))
    assert set(np.unique(salted[salted != 0.5])) == {0.0, 1.0}
    assert (salted == 1).sum() / destroyed.sum() == pytest.approx(0.5, abs=4 * 0.5 / np.sqrt(destroyed.sum()))


def test_only_training_corrupts(mnist_5k):
    x = mnist_5k.x_test[:64]
    model = DenoisingAE(latent_dim=8, noise_level=0.5, seed=0)
    model.compile(optimizer="adam")
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())
    first, second = (model.evaluate(x, batch_size=64, verbose=0, return_dict=True) for _ in range(2))
    assert first == second
    # test_step scores the clean input: its reconstruction is the NLL of call's clean output.
    assert first["reconstruction"] == pytest.approx(bce(x, model(x).numpy()).mean(), rel=1e-4)
    # The same code as call's in evaluation; a code of corrupted inputs in training.
    code = model.code(x).numpy()
    np.testing.assert_array_equal(model.loss_terms({"images": x}, training=False)["code"].numpy(), code)
    assert np.abs(model.loss_terms({"images": x}, training=True)["code"].numpy() - code).mean() > 0.01


def test_sparsity_penalty_is_the_bernoulli_kl_of_the_batch_mean_activation(mnist_5k):
    x, rho = mnist_5k.x_train[:50], 0.05
    model = SparseAE(latent_dim=12, rho=rho, beta=2.0, seed=0)
    terms = {k: v.numpy() for k, v in model.loss_terms({"images": x}).items()}
    code = model.code(x).numpy()
    rho_hat = code.mean(axis=0)
    kl = np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
    np.testing.assert_allclose(terms["sparsity"], np.full(50, kl), rtol=1e-5)
    np.testing.assert_allclose(terms["loss"], terms["reconstruction"] + 2.0 * kl, rtol=1e-6)
    np.testing.assert_allclose(terms["mean_activation"], code.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(terms["active_fraction"], (code > 0.5).mean(axis=1))


def test_k_sparse_keeps_exactly_the_k_largest_and_passes_gradients_only_through_them(mnist_5k):
    x = mnist_5k.x_train[:20]
    model = KSparseAE(latent_dim=16, k=3, seed=0)
    kernel, bias = model.encoder.get_layer("code").get_weights()
    linear = x.reshape(20, D) @ kernel + bias
    kept = np.argsort(-linear, axis=1)[:, :3]
    code = model.code(x).numpy()
    np.testing.assert_array_equal((code != 0).sum(axis=1), 3)
    np.testing.assert_allclose(np.take_along_axis(code, kept, 1), np.take_along_axis(linear, kept, 1), rtol=1e-5)
    with tf.GradientTape() as tape:
        loss = model.loss_terms({"images": x[:1]})["loss"]
    gradient = np.abs(tape.gradient(loss, model.encoder.get_layer("code").kernel).numpy()).sum(axis=0)
    assert (gradient[kept[0]] > 0).all() and (np.delete(gradient, kept[0]) == 0).all()
    ties = tf.ones((2, 6))  # ranks, not thresholds: still exactly k
    np.testing.assert_array_equal((KSparse(4)(ties).numpy() != 0).sum(axis=1), 4)


def test_contractive_closed_form_and_exact_penalties_are_the_batch_jacobian_norm(rng):
    x = rng.uniform(size=(16, 28, 28, 1)).astype(np.float32)
    model = ContractiveAE(latent_dim=10, seed=0)
    assert model.jacobian_method("auto") == "closed_form"
    reference = squared_jacobian_norms(model, x)
    for method in ("closed_form", "exact"):
        np.testing.assert_allclose(model.jacobian_norm(x, method).numpy(), reference, rtol=1e-5)
    # Training differentiates through the penalty: both give the same weight gradient.
    gradients = []
    for method in ("closed_form", "exact"):
        with tf.GradientTape() as tape:
            penalty = tf.reduce_sum(model.jacobian_norm(x, method))
        gradients.append(tape.gradient(penalty, model.encoder.trainable_weights))
    for closed, exact in zip(*gradients):
        np.testing.assert_allclose(closed.numpy(), exact.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ContractiveAE(latent_dim=10, jacobian="estimate", seed=0),
        # Any other encoder: a conv trunk under the code layer, no closed form.
        lambda: ContractiveAE(
            architecture="conv", latent_dim=6, filters=[4, 8], hidden_dim=16, jacobian="estimate", seed=0
        ),
    ],
    ids=["dense_sigmoid", "conv"],
)
def test_contractive_estimator_is_unbiased(make, rng):
    """The mean of 2,000 single-projection estimates lies within 4 standard errors of the exact
    value (one projection's relative spread is up to ~0.5 dense, ~0.9 conv: a tolerance under 10%)."""
    model, draws = make(), 2000
    x = rng.uniform(size=(8, 28, 28, 1)).astype(np.float32)
    reference = squared_jacobian_norms(model, x)
    estimates = model.jacobian_norm(np.tile(x, (draws, 1, 1, 1))).numpy().reshape(draws, 8)
    tolerance = 4 * estimates.std(axis=0) / np.sqrt(draws)
    assert (tolerance < 0.1 * reference).all()
    assert (np.abs(estimates.mean(axis=0) - reference) < tolerance).all()
    # Averaging P projections divides the variance by P.
    model.projections = 4
    averaged = model.jacobian_norm(np.tile(x, (draws, 1, 1, 1))).numpy().reshape(draws, 8)
    assert 0.4 < np.median(averaged.std(axis=0) / estimates.std(axis=0)) < 0.6


# -- each regularizer does what it claims, against the plain ae of the same size ----------------
CODE = 128


def trained(model, mnist_5k):
    """315 Adam steps (5 epochs of 4,000 digits), the same for every model."""
    keras.utils.set_random_seed(0)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    model.fit(mnist_5k.x_train, batch_size=64, epochs=5, verbose=0)
    return model


@pytest.fixture(scope="module")
def ae(mnist_5k):
    return trained(AE(latent_dim=CODE, seed=0), mnist_5k)


@pytest.mark.slow
def test_denoising_ae_reconstructs_corrupted_digits_better(ae, mnist_5k):
    dae = trained(DenoisingAE(latent_dim=CODE, noise_level=0.5, seed=0), mnist_5k)
    x = mnist_5k.x_test
    masked = np.random.default_rng(1).permuted(np.tile(np.arange(D) < D // 2, (len(x), 1)), axis=1)
    corrupted = np.where(masked.reshape(x.shape), 0.0, x).astype(np.float32)
    dae_error, ae_error = (bce(x, m(corrupted).numpy()).mean() for m in (dae, ae))
    assert dae_error < 0.9 * ae_error  # measured: about 106 against 138 nats


@pytest.mark.slow
def test_sparse_ae_mean_activation_is_near_rho(ae, mnist_5k):
    sparse = trained(SparseAE(latent_dim=CODE, rho=0.05, seed=0), mnist_5k)
    x = mnist_5k.x_test
    assert abs(sparse.code(x).numpy().mean() - 0.05) < 0.03  # measured: about 0.077
    assert ae.code(x).numpy().mean() > 0.3  # the unregularized code is dense: about 0.63


@pytest.mark.slow
def test_contractive_ae_has_a_smaller_jacobian_on_test_digits(ae, mnist_5k):
    cae = trained(ContractiveAE(latent_dim=CODE, contractive_weight=1.0, seed=0), mnist_5k)
    x = mnist_5k.x_test[:200]
    cae_norm, ae_norm = (squared_jacobian_norms(m, x).mean() for m in (cae, ae))
    assert cae_norm < 0.25 * ae_norm  # measured: about 6 against 50
    assert bce(x, cae(x).numpy()).mean() < 1.2 * bce(x, ae(x).numpy()).mean()  # still reconstructs
