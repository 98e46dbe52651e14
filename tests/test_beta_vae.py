"""beta_vae: the objective against the VAE and NumPy, the capacity schedule through training,
checkpoint and resume."""

import numpy as np
import pytest

from keras_vae.models import VAE, BetaVAE
from keras_vae.runner import builder, loading, runs, train

SMALL = {"latent_dim": 4, "filters": [4, 8], "hidden_dim": 16}


def numpy_kl_per_dim(mean, log_var):
    return 0.5 * (mean**2 + np.exp(log_var) - 1 - log_var)


@pytest.fixture(scope="module")
def x(mnist_5k):
    return mnist_5k.x_train[:32]


def twin(vae, **kwargs):
    """A BetaVAE with the weights of `vae`."""
    model = BetaVAE(**SMALL, **kwargs)
    model.encoder.set_weights(vae.encoder.get_weights())
    model.decoder.set_weights(vae.decoder.get_weights())
    return model


def test_beta_1_is_exactly_the_vae_loss_and_beta_reweights_the_kl(x, rng):
    vae = VAE(architecture="conv", **SMALL, seed=0)
    eps = rng.standard_normal((len(x), 4)).astype(np.float32)
    expected = vae.loss_terms({"images": x}, eps=eps)
    np.testing.assert_array_equal(
        twin(vae, beta=1.0).loss_terms({"images": x}, eps=eps)["loss"].numpy(), expected["loss"].numpy()
    )

    terms = twin(vae, beta=4.0).loss_terms({"images": x}, eps=eps)
    mean, log_var = (t.numpy() for t in vae.encode(x))
    kl_per_dim = numpy_kl_per_dim(mean, log_var)
    np.testing.assert_allclose(terms["loss"], expected["reconstruction"] + 4 * kl_per_dim.sum(axis=1), rtol=1e-5)
    for j in range(4):  # logged per latent dimension
        np.testing.assert_allclose(terms[f"kl_{j}"], kl_per_dim[:, j], rtol=1e-4, atol=1e-6)


def capacity_at(step, c_max=10.0, steps=8):
    return c_max * min(step / steps, 1.0)


def test_capacity_rises_linearly_then_holds_and_sets_the_objective(x, rng):
    model = BetaVAE(**SMALL, capacity_max=10.0, capacity_steps=8, gamma=50.0, seed=0)
    model.compile(optimizer="adam")
    for step in range(12):  # the loss of step n uses C(n), n steps already taken
        logs = model.train_on_batch(x, return_dict=True)
        assert logs["capacity"] == pytest.approx(capacity_at(step), rel=1e-6)
    assert int(model.capacity_step.numpy()) == 12 and float(model.capacity()) == 10.0

    model.capacity_step.assign(3)
    eps = rng.standard_normal((len(x), 4)).astype(np.float32)
    terms = model.loss_terms({"images": x}, eps=eps)
    mean, log_var = (t.numpy() for t in model.encode(x))
    gap = abs(numpy_kl_per_dim(mean, log_var).sum(axis=1).mean() - capacity_at(3))
    np.testing.assert_allclose(terms["loss"], terms["reconstruction"].numpy() + 50.0 * gap, rtol=1e-5)


def test_the_schedule_survives_checkpoint_and_resume(tmp_path):
    overrides = {
        **SMALL,
        "dataset": "mnist_5k",
        "capacity_max": 10.0,
        "capacity_steps": 6,
        "epochs": 1,
        "batch_size": 64,
    }
    _, run_dir = train.train("beta_vae", overrides, run_dir=tmp_path / "run", seed=0, verbose=0, limit=256)
    assert int(runs.load_model(run_dir / runs.CHECKPOINT).capacity_step.numpy()) == 4  # 256 / 64 steps
    model, _ = train.resume(run_dir, epochs=2, verbose=0, limit=256)
    assert int(model.capacity_step.numpy()) == 8
    assert int(loading.load_run_model(run_dir).capacity_step.numpy()) == 8
    history = runs.read_json(run_dir / runs.HISTORY)
    # Epoch 2 trained at C(4) .. C(7); a schedule restarted at 0 would log the mean of C(0) .. C(3).
    expected = np.mean([capacity_at(s, steps=6) for s in range(4, 8)])
    assert history[1]["capacity"] == pytest.approx(expected, rel=1e-5)


def test_the_architecture_is_configuration_for_any_objective(mnist_5k):
    """`train beta_vae --set architecture=dense`: the same objective on the dense networks."""
    model = builder.build("beta_vae", architecture="dense", hidden_sizes=[16], latent_dim=2)
    assert type(model) is BetaVAE and model.beta == 4.0
    kinds = {type(layer).__name__ for layer in model.encoder.layers + model.decoder.layers}
    assert "Conv2D" not in kinds and "Conv2DTranspose" not in kinds and "Dense" in kinds
    logs = model.fit(mnist_5k.x_train[:64], batch_size=32, epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][-1]) and "kl_1" in logs
