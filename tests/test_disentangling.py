"""The disentangling objectives (beta_tc_vae, factor_vae, dip_vae) against independent computations:
the total-correlation estimators against NumPy and against the known TC of a correlated Gaussian,
DIP-VAE's covariance penalties against NumPy, FactorVAE's permutation and density-ratio estimate,
and FactorVAE's two optimizers through a stopped and resumed run."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_vae.core import disentangling
from keras_vae.core.errors import ConfigError
from keras_vae.models import DIPVAE, VAE, BetaTCVAE, FactorVAE
from keras_vae.runner import builder, runs, train
from keras_vae.runner.fit import Interrupted

SMALL = {"latent_dim": 4, "filters": [4, 8], "hidden_dim": 16}


# -- the total-correlation estimators (Chen et al. 2018) --------------------------------------
def numpy_normal(z, mean, log_var):
    return np.exp(-0.5 * ((z - mean) ** 2 / np.exp(log_var) + log_var + math.log(2 * math.pi)))


def numpy_aggregate(z, mean, log_var, n, estimator):
    """log q(z_i) and sum_d log q(z_i,d), written out loop by loop from the formulas."""
    b, dims = z.shape
    m = b - 1
    log_qz, log_product = np.zeros(b), np.zeros(b)
    for i in range(b):
        weights = []
        for j in range(b):
            if estimator == "mws":
                weights.append(1 / (n * b))
            elif j == i:
                weights.append(1 / n)
            elif j == (i + 1) % b:
                weights.append((n - m) / (n * m))
            else:
                weights.append(1 / m)
        joint = sum(w * np.prod(numpy_normal(z[i], mean[j], log_var[j])) for j, w in enumerate(weights))
        log_qz[i] = np.log(joint)
        for d in range(dims):
            marginal = sum(w * numpy_normal(z[i, d], mean[j, d], log_var[j, d]) for j, w in enumerate(weights))
            log_product[i] += np.log(marginal)
    return log_qz, log_product


@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_the_estimators_of_log_q_z_match_numpy_on_a_tiny_batch(estimator, rng):
    z, mean = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    log_var = rng.normal(scale=0.5, size=(5, 3))
    got = disentangling.aggregate_log_densities(z, mean, log_var, 1000, estimator)
    for value, expected in zip(got, numpy_aggregate(z, mean, log_var, 1000, estimator), strict=True):
        np.testing.assert_allclose(value.numpy(), expected, rtol=1e-5)


def test_the_stratified_weights_sum_to_one_and_sit_on_the_diagonal_and_the_next_column():
    weights = np.exp(disentangling.mss_log_weights(6, 100).numpy())
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.diag(weights), 1 / 100, rtol=1e-6)
    np.testing.assert_allclose([weights[i, (i + 1) % 6] for i in range(6)], (100 - 5) / (100 * 5), rtol=1e-6)


def test_on_a_correlated_gaussian_mss_converges_to_the_true_tc_and_mws_to_it_plus_its_offset(rng):
    """q(z) a mixture of N = 20,000 Gaussians N(mu_n, 0.4^2 I), mu_n ~ N(0, C - 0.4^2 I): q(z) is
    N(0, C) up to the finite sample, C of correlation rho = 0.8, so TC = -0.5 log(1 - rho^2) =
    0.511 nats. Batches of M = 1,000 (8 of them: standard error 0.006 nats). MSS is unbiased
    inside the log. MWS, where every posterior overlaps many others, sits log N too low on each
    density: it gives TC + (D - 1) log N. Measured with this seed: 0.527 (MSS) and 0.526 (MWS less
    log N); the small excess is the log's bias at M = 1,000 (0.510 at M = 2,000 in a trial run).
    Tolerance 0.05."""
    rho, sigma, n, m = 0.8, 0.4, 20_000, 1_000
    true_tc = -0.5 * math.log(1 - rho**2)
    means = rng.multivariate_normal([0, 0], [[1 - sigma**2, rho], [rho, 1 - sigma**2]], size=n)
    log_var = np.full((m, 2), 2 * math.log(sigma))
    estimates = {"mws": [], "mss": []}
    for _ in range(8):
        batch = means[rng.choice(n, m, replace=False)]
        z = batch + sigma * rng.standard_normal((m, 2))
        for estimator, values in estimates.items():
            log_qz, log_product = disentangling.aggregate_log_densities(z, batch, log_var, n, estimator)
            values.append(float(np.mean(log_qz - log_product)))
    assert np.mean(estimates["mss"]) == pytest.approx(true_tc, abs=0.05)
    assert np.mean(estimates["mws"]) - math.log(n) == pytest.approx(true_tc, abs=0.05)


def test_beta_tc_vae_logs_the_decomposition_and_reweights_only_the_tc(mnist_5k, rng):
    x = mnist_5k.x_train[:16]
    eps = rng.standard_normal((16, 4)).astype(np.float32)
    vae = VAE(architecture="conv", **SMALL, seed=0)
    model = BetaTCVAE(beta=6.0, estimator="mss", dataset_size=4000, **SMALL, seed=0)
    model.encoder.set_weights(vae.encoder.get_weights())
    model.decoder.set_weights(vae.decoder.get_weights())
    terms = model.loss_terms({"images": x}, eps=eps)
    expected = vae.loss_terms({"images": x}, eps=eps)
    mean, log_var = (t.numpy().astype(np.float64) for t in vae.encode({"images": x}))
    z = mean + np.exp(0.5 * log_var) * eps
    log_qz, log_product = numpy_aggregate(z, mean, log_var, 4000, "mss")
    np.testing.assert_allclose(terms["tc"], log_qz - log_product, rtol=1e-4, atol=1e-3)
    # mi + tc + dw_kl = log q(z|x) - log p(z), the one-sample KL estimate
    log_qz_x = np.log(numpy_normal(z, mean, log_var)).sum(axis=1)
    log_pz = np.log(numpy_normal(z, 0.0, 0.0)).sum(axis=1)
    np.testing.assert_allclose(terms["mi"] + terms["tc"] + terms["dw_kl"], log_qz_x - log_pz, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(terms["loss"], expected["loss"].numpy() + 5.0 * terms["tc"].numpy(), rtol=1e-5)
    one = BetaTCVAE(beta=1.0, **SMALL, seed=0)
    one.set_weights(model.get_weights())
    np.testing.assert_allclose(one.loss_terms({"images": x}, eps=eps)["loss"], expected["loss"], rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"estimator": "mcmc"}, "estimator must be one of mws, mss, got 'mcmc'"),
        ({"dataset_size": 1}, "dataset_size must be the number of training examples"),
        ({"beta": -1.0}, "beta must be a total-correlation weight >= 0"),
    ],
)
def test_bad_beta_tc_settings_are_one_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        BetaTCVAE(**SMALL, **kwargs)


# -- DIP-VAE (Kumar et al. 2018) ---------------------------------------------------------------
def numpy_penalties(covariance):
    off = covariance - np.diag(np.diag(covariance))
    return (off**2).sum(), ((np.diag(covariance) - 1) ** 2).sum()


@pytest.mark.parametrize("dip_type", ["i", "ii"])
def test_dip_penalties_match_numpy(dip_type, mnist_5k, rng):
    x = mnist_5k.x_train[:32]
    eps = rng.standard_normal((32, 4)).astype(np.float32)
    model = DIPVAE(dip_type=dip_type, lambda_od=3.0, **SMALL, seed=0)
    terms = model.loss_terms({"images": x}, eps=eps)
    mean, log_var = (t.numpy().astype(np.float64) for t in model.encode({"images": x}))
    covariance = np.cov(mean, rowvar=False, bias=True)  # normalized by B, as disentanglement_lib
    if dip_type == "ii":
        covariance += np.diag(np.exp(log_var).mean(axis=0))
    off, diagonal = numpy_penalties(covariance)
    lambda_d = 3.0 * (10.0 if dip_type == "i" else 1.0)  # disentanglement_lib's lambda_d_factor
    assert model.diagonal_weight == lambda_d
    np.testing.assert_allclose(terms["off_diagonal"], off, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(terms["diagonal"], diagonal, rtol=1e-4)
    np.testing.assert_allclose(terms["dip"], 3.0 * off + lambda_d * diagonal, rtol=1e-4)
    expected = terms["reconstruction"].numpy() + terms["kl"].numpy() + 3.0 * off + lambda_d * diagonal
    np.testing.assert_allclose(terms["loss"], expected, rtol=1e-5)
    assert DIPVAE(dip_type=dip_type, lambda_od=3.0, lambda_d=0.5, **SMALL).diagonal_weight == 0.5


def test_bad_dip_settings_are_one_config_error():
    with pytest.raises(ConfigError, match="dip_type must be one of i, ii, got 'iii'"):
        DIPVAE(dip_type="iii", **SMALL)
    with pytest.raises(ConfigError, match="lambda_d must be None or a penalty weight >= 0"):
        DIPVAE(lambda_d=-1.0, **SMALL)


# -- FactorVAE (Kim & Mnih 2018) ---------------------------------------------------------------
def test_the_permutation_keeps_every_dimension_s_marginal_and_breaks_the_dependence(rng):
    z = rng.multivariate_normal([0, 0, 0], [[1, 0.9, 0], [0.9, 1, 0], [0, 0, 1]], size=4096).astype(np.float32)
    permuted = disentangling.shuffle_dimensions(z, rng.uniform(size=z.shape)).numpy()
    for d in range(3):  # each column holds the batch's own values, each once
        np.testing.assert_array_equal(np.sort(permuted[:, d]), np.sort(z[:, d]))
    assert np.corrcoef(z, rowvar=False)[0, 1] > 0.85
    assert abs(np.corrcoef(permuted, rowvar=False)[0, 1]) < 0.06  # 4 standard errors of 1/sqrt(4096)
    assert not np.array_equal(permuted[:, 0], z[:, 0]) and not np.array_equal(permuted[:, 1], z[:, 1])


def trained_discriminator_tc(z_of, rng, steps=300):
    """The mean tc of a FactorVAE's discriminator trained by its own optimizer on codes from
    `z_of(rng)` (its real train path: `discriminator_terms` and `discriminator_optimizer`)."""
    keras.utils.set_random_seed(0)
    networks = {**SMALL, "latent_dim": 2, "discriminator_layers": 2, "discriminator_units": 64}
    model = FactorVAE(**networks, discriminator_learning_rate=1e-3, seed=0)
    model.compile(optimizer="adam")  # the discriminator's optimizer is the compiled model's
    variables = model.discriminator.trainable_variables

    @tf.function
    def step(z):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.discriminator_terms(z, training=True)["discriminator"])
        model.discriminator_optimizer.apply(tape.gradient(loss, variables), variables)

    for _ in range(steps):
        step(tf.constant(z_of(rng, 512), tf.float32))
    assert int(model.discriminator_optimizer.iterations) == steps
    return float(np.mean(model.discriminator_terms(tf.constant(z_of(rng, 8192), tf.float32))["tc"]))


def test_the_discriminator_s_tc_is_near_0_on_independent_codes_and_near_the_truth_on_correlated(rng):
    """z independent: TC = 0; z of correlation 0.9: TC = -0.5 log(1 - 0.81) = 0.830 nats. A
    discriminator of 2 x 64 units after 300 steps of 512: measured 0.02 and 0.80; tolerances 0.15
    and 0.25 (a density-ratio estimate from a classifier, not a consistent estimator at this size)."""
    independent = trained_discriminator_tc(lambda r, n: r.standard_normal((n, 2)), rng)
    correlated = trained_discriminator_tc(lambda r, n: r.multivariate_normal([0, 0], [[1, 0.9], [0.9, 1]], n), rng)
    assert abs(independent) < 0.15
    assert correlated == pytest.approx(-0.5 * math.log(1 - 0.81), abs=0.25)


def test_one_train_step_steps_both_optimizers_each_on_its_own_variables(mnist_5k):
    model = builder.build("factor_vae", dataset="mnist_5k", **SMALL, discriminator_layers=2, discriminator_units=16)
    vae_before = [v.numpy() for v in model.trainable_variables]
    discriminator_before = [v.numpy() for v in model.discriminator.trainable_variables]
    model.train_on_batch(mnist_5k.x_train[:32])
    assert int(model.optimizer.iterations) == 1 and int(model.discriminator_optimizer.iterations) == 1
    own = {id(v) for v in model.discriminator.trainable_variables}
    assert not own & {id(v) for v in model.trainable_variables}  # the VAE's optimizer never sees them
    assert len(model.optimizer.variables) == 2 + 2 * len(vae_before)  # iterations, learning rate, m, v
    assert all(not np.array_equal(a, v.numpy()) for a, v in zip(vae_before, model.trainable_variables, strict=True))
    changed = zip(discriminator_before, model.discriminator.trainable_variables, strict=True)
    assert all(not np.array_equal(a, v.numpy()) for a, v in changed)


class StopInSecondEpoch(keras.callbacks.Callback):
    """Record the discriminator optimizer's state after epoch 1, then stop as Ctrl-C does."""

    def __init__(self):
        super().__init__()
        self.after_first = None

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            self.after_first = [v.numpy().copy() for v in self.model.discriminator_optimizer.variables]

    def on_train_batch_begin(self, batch, logs=None):
        if self.after_first is not None:  # in epoch 2, after epoch 1's checkpoint
            raise KeyboardInterrupt


def test_factor_vae_resumes_after_a_stop_with_both_optimizers_states(tmp_path):
    overrides = {
        **SMALL,
        "dataset": "mnist_5k",
        "discriminator_layers": 2,
        "discriminator_units": 16,
        "epochs": 2,
        "batch_size": 64,
    }
    stop = StopInSecondEpoch()
    with pytest.raises(Interrupted):
        train.train("factor_vae", overrides, run_dir=tmp_path / "run", seed=0, verbose=0, limit=256, callbacks=[stop])
    checkpoint = runs.load_model(tmp_path / "run" / runs.CHECKPOINT)  # as resume loads it
    restored = checkpoint.discriminator_optimizer
    assert int(restored.iterations) == 4 == int(checkpoint.optimizer.iterations)  # 256 / 64 steps each
    assert len(restored.variables) == len(stop.after_first)
    for saved, variable in zip(stop.after_first, restored.variables, strict=True):
        np.testing.assert_array_equal(variable.numpy(), saved, err_msg=variable.path)
    moments = [v.numpy() for v in restored.variables if "momentum" in v.path or "velocity" in v.path]
    assert moments and all(np.any(m != 0) for m in moments)  # trained moments, not fresh zeros

    model, _ = train.resume(tmp_path / "run", verbose=0, limit=256)
    assert int(model.discriminator_optimizer.iterations) == 8 == int(model.optimizer.iterations)  # 4 + 4, not 4
    history = runs.read_json(tmp_path / "run" / runs.HISTORY)
    assert len(history) == 2 and all(np.isfinite(record["discriminator"]) for record in history)


DSPRITES_ENTRIES = ("vae_dsprites", "beta_vae_dsprites", "beta_tc_vae", "factor_vae", "dip_vae")


@pytest.mark.parametrize("entry", DSPRITES_ENTRIES)
def test_the_dsprites_entries_build_the_network_of_locatello_et_al(entry):
    """64x64x1, four stride-2 convs of 32, 32, 64, 64 filters with 4x4 kernels, Dense(256), 10
    latents, Bernoulli: what the conv architecture chooses at 64x64 (conv_stages)."""
    model = builder.build(entry, compile=False)
    assert model.image_shape == (64, 64, 1) and model.latent_dim == 10 and model.likelihood == "bernoulli"
    convs = [layer for layer in model.encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [32, 32, 64, 64]
    assert {c.kernel_size for c in convs} == {(4, 4)} and {c.strides for c in convs} == {(2, 2)}
    dense = [layer for layer in model.encoder.layers if isinstance(layer, keras.layers.Dense)]
    assert dense[0].units == 256


@pytest.fixture(scope="module")
def sprites():
    """64 dSprites images drawn on demand (`dsprites.load(limit=...)`), never the 377 MB cache."""
    from keras_vae.data import dsprites

    return dsprites.load(limit=64, seed=0).images(np.arange(64)).astype(np.float32) / 255.0


@pytest.mark.parametrize("entry", DSPRITES_ENTRIES)
def test_the_dsprites_entries_train_at_full_size_on_dsprites_images(entry, sprites):
    """The generic contract tests run every entry on 28x28 mnist_5k at its test size; here each
    trains two steps at its own size on 64x64 dSprites images."""
    model = builder.build(entry)
    history = model.fit(sprites, batch_size=32, epochs=1, verbose=0).history
    assert set(history) == set(model.loss_names) and all(np.isfinite(v[-1]) for v in history.values())
    assert int(model.optimizer.iterations) == 2
    if entry == "factor_vae":
        assert int(model.discriminator_optimizer.iterations) == 2


@pytest.mark.slow
def test_factor_vae_resumes_after_a_kill_with_both_optimizers_states(tmp_path):
    """`train factor_vae` in a subprocess, SIGKILLed once it has checkpointed two epochs, then
    `resume`: both optimizers continue from the checkpoint's step count (4 steps an epoch)."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    run = tmp_path / "run"
    settings = ["dataset=mnist_5k", "epochs=1000", "latent_dim=4", "filters=[4,8]", "hidden_dim=16"]
    settings += ["discriminator_layers=2", "discriminator_units=16", "batch_size=64"]
    command = [sys.executable, "-m", "keras_vae.zoo", "train", "factor_vae", "--limit", "256", "--seed", "0"]
    command += ["--out", str(run), *[arg for s in settings for arg in ("--set", s)]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while runs.epochs_done(run) < 2:  # state.json is written, atomically, after the checkpoint
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no second checkpoint in 240 s"
            time.sleep(0.5)
    finally:
        process.kill()  # SIGKILL: no handler runs
        process.wait()
    done = runs.epochs_done(run)
    checkpoint = runs.load_model(run / runs.CHECKPOINT)
    assert int(checkpoint.discriminator_optimizer.iterations) == 4 * done == int(checkpoint.optimizer.iterations)
    moments = [v.numpy() for v in checkpoint.discriminator_optimizer.variables if "momentum" in v.path]
    assert moments and all(np.any(m != 0) for m in moments)
    model, _ = train.resume(run, epochs=done + 1, verbose=0, limit=256)
    assert int(model.discriminator_optimizer.iterations) == 4 * (done + 1) == int(model.optimizer.iterations)
