"""The vamp_vae entry (Tomczak & Welling 2018): its prior, objective and sampling against NumPy/SciPy
computations made from the model's own encoder and decoder, its tie to the plain VAE, and the
entry end to end through the command line."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats
from scipy.special import expit, logsumexp

from keras_vae.catalogue.entries import read_entry
from keras_vae.core import iwae
from keras_vae.core.errors import ConfigError
from keras_vae.models import VAE, VampVAE
from keras_vae.runner import loading, runs

SHAPE, LATENT, K = (4, 4, 1), 3, 5
SMALL = {"architecture": "dense", "image_shape": SHAPE, "latent_dim": LATENT, "hidden_sizes": [8], "seed": 0}


def distinct(model, rng, scale=3.0):
    """Spread the pseudo-inputs over [0, 1] and the encoder's means, so the prior's components differ."""
    weights = model.pseudo_input_weights
    weights.assign(rng.normal(0.0, scale / model.pseudo_input_gain, size=weights.shape))  # logits ~ N(0, scale^2)
    layer = model.encoder.get_layer("z_mean")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel * 5.0, bias])
    return model


@pytest.fixture
def model(rng):
    keras.utils.set_random_seed(0)  # the networks' initial weights: each test sees the same model
    return distinct(VampVAE(pseudo_inputs=K, **SMALL), rng)


def numpy_posteriors(model, images):
    """(mean, log_var) float64 of the model's encoder."""
    mean, log_var = model.encode(np.asarray(images, np.float32))
    return mean.numpy().astype(np.float64), log_var.numpy().astype(np.float64)


def numpy_vamp_log_prob(model, z):
    """log (1/K) sum_k N(z; mu_k, diag sigma_k^2), mu_k and sigma_k from the encoder at the
    pseudo-inputs sigmoid(gain * w): SciPy, float64, z [..., latent]."""
    mean, log_var = numpy_posteriors(model, numpy_pseudo_images(model))
    per_component = stats.norm.logpdf(z[..., None, :], mean, np.exp(0.5 * log_var)).sum(-1)  # [..., K]
    return logsumexp(per_component, axis=-1) - np.log(len(mean))


def numpy_pseudo_images(model):
    return expit(model.pseudo_input_gain * model.pseudo_input_weights.numpy().astype(np.float64))


def numpy_bernoulli_log_prob(x, logits):
    x, logits = x.reshape(len(x), -1), logits.reshape(len(logits), -1).astype(np.float64)
    return (-x * np.logaddexp(0, -logits) - (1 - x) * np.logaddexp(0, logits)).sum(-1)


def test_the_prior_is_the_mixture_of_the_posteriors_at_the_pseudo_inputs(model, rng):
    images = model.pseudo_images().numpy()
    assert images.shape == (K, *SHAPE) and 0 < images.min() and images.max() < 1
    np.testing.assert_allclose(images, numpy_pseudo_images(model), rtol=1e-6)
    prior = model.latent_model().prior  # what the importance-weighted bound uses
    assert prior.batch_shape == [] and prior.event_shape == [LATENT]
    z = 2.0 * rng.normal(size=(2, 6, LATENT))  # [S, B, latent], as iwae.log_weights_at gives it
    expected = numpy_vamp_log_prob(model, z)
    np.testing.assert_allclose(prior.log_prob(z.astype(np.float32)).numpy(), expected, rtol=1e-5)
    # Not one Gaussian in disguise: the components are apart, so the mixture differs from each.
    mean, log_var = numpy_posteriors(model, images)
    single = stats.norm.logpdf(z, mean[0], np.exp(0.5 * log_var[0])).sum(-1)
    assert np.abs(expected - single).max() > 1.0


def test_the_loss_terms_equal_a_numpy_computation_at_fixed_noise(model, rng):
    x = rng.uniform(size=(6, *SHAPE)).astype(np.float32)
    eps = rng.normal(size=(6, LATENT)).astype(np.float32)
    terms = model.loss_terms({"images": x}, eps=eps)

    mean, log_var = numpy_posteriors(model, x)
    z = mean + np.exp(0.5 * log_var) * eps
    reconstruction = -numpy_bernoulli_log_prob(x, model.decoder(z.astype(np.float32)).numpy())
    log_q = stats.norm.logpdf(z, mean, np.exp(0.5 * log_var)).sum(-1)
    kl = log_q - numpy_vamp_log_prob(model, z)
    np.testing.assert_allclose(terms["reconstruction"], reconstruction, rtol=1e-5)
    np.testing.assert_allclose(terms["kl"], kl, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(terms["loss"], reconstruction + kl, rtol=1e-5)

    # kl_per_dim: the closed-form KL of each q(z_i|x) to the prior marginal's moment-matched Gaussian.
    mu_k, log_var_k = numpy_posteriors(model, model.pseudo_images().numpy())
    m = mu_k.mean(0)
    v = np.exp(log_var_k).mean(0) + ((mu_k - m) ** 2).mean(0)
    per_dim = 0.5 * (np.log(v) - log_var + (np.exp(log_var) + (mean - m) ** 2) / v - 1)
    np.testing.assert_allclose(terms["kl_per_dim"], per_dim, rtol=1e-4, atol=1e-6)


def test_the_objective_trains_the_pseudo_inputs(model, rng):
    x = rng.uniform(size=(6, *SHAPE)).astype(np.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model.loss_terms({"images": x})["loss"])
    gradient = tape.gradient(loss, model.pseudo_input_weights)
    assert gradient is not None and (np.abs(gradient.numpy()).sum(axis=(1, 2, 3)) > 0).all()  # every u_k learns


def test_the_gain_is_the_pseudo_inputs_own_learning_rate(rng):
    """The same pseudo-inputs and networks at gain 1 and 10: one Adam step (which moves each weight
    by the learning rate, whatever its gradient's scale) moves the logits gain * w ten times as far."""
    x = {"images": rng.uniform(size=(6, *SHAPE)).astype(np.float32)}
    logits = rng.normal(0.0, 1.0, size=(K, *SHAPE)).astype(np.float32)
    models = {gain: VampVAE(pseudo_inputs=K, pseudo_input_gain=gain, **SMALL) for gain in (1.0, 10.0)}
    models[10.0].encoder.set_weights(models[1.0].encoder.get_weights())
    models[10.0].decoder.set_weights(models[1.0].decoder.get_weights())
    moved, gradients = {}, {}
    for gain, model in models.items():
        model.pseudo_input_weights.assign(logits / gain)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.loss_terms(x, eps=np.zeros((6, LATENT), np.float32))["loss"])
        gradients[gain] = tape.gradient(loss, model.pseudo_input_weights)
        keras.optimizers.Adam(1e-3).apply([gradients[gain]], [model.pseudo_input_weights])
        moved[gain] = gain * model.pseudo_input_weights.numpy() - logits
    np.testing.assert_allclose(gradients[10.0], 10 * gradients[1.0].numpy(), rtol=1e-4, atol=1e-9)  # d/dw = g d/dlogit
    # Keras's Adam adds epsilon = 1e-7 to sqrt(v) = sqrt(1 - beta_2) |g| = 0.03 |g| after one step:
    # negligible for |g| > 1e-3.
    steady = np.abs(gradients[1.0].numpy()) > 1e-3
    assert steady.sum() >= 10, steady.sum()
    np.testing.assert_allclose(np.abs(moved[1.0][steady]), 1e-3, rtol=1e-2)
    np.testing.assert_allclose(moved[10.0][steady], 10 * moved[1.0][steady], rtol=1e-2)


def test_with_one_pseudo_input_at_the_standard_normal_it_is_the_vae(rng):
    """K = 1 and q(z | u_1) = N(0, I) (an all-black pseudo-input through an encoder whose biases are
    still their zero initialization): the prior is N(0, I), the reconstruction is the VAE's at the
    same noise, and the sampled KL averages to the VAE's closed form."""
    model = VampVAE(pseudo_inputs=1, **SMALL)
    model.pseudo_input_weights.assign(np.full(model.pseudo_input_weights.shape, -30.0 / model.pseudo_input_gain))
    mean, log_var = model.pseudo_posteriors()
    np.testing.assert_allclose(mean, 0.0, atol=1e-6)
    np.testing.assert_allclose(log_var, 0.0, atol=1e-6)
    z = rng.normal(size=(7, LATENT)).astype(np.float32)
    np.testing.assert_allclose(model.latent_prior().log_prob(z), stats.norm.logpdf(z).sum(-1), rtol=1e-6)

    vae = VAE(**SMALL)
    vae.encoder.set_weights(model.encoder.get_weights())
    vae.decoder.set_weights(model.decoder.get_weights())
    x = np.repeat(rng.uniform(size=(2, *SHAPE)).astype(np.float32), 3000, axis=0)
    eps = rng.normal(size=(len(x), LATENT)).astype(np.float32)
    vamp, plain = model.loss_terms({"images": x}, eps=eps), vae.loss_terms({"images": x}, eps=eps)
    np.testing.assert_allclose(vamp["reconstruction"], plain["reconstruction"], rtol=1e-6)
    np.testing.assert_allclose(vamp["kl_per_dim"], plain["kl_per_dim"], rtol=1e-4, atol=1e-6)  # the prior is N(0, 1)
    for image in range(2):
        rows = slice(image * 3000, (image + 1) * 3000)
        sampled, closed = vamp["kl"].numpy()[rows], plain["kl"].numpy()[rows]
        assert closed.std() < 1e-5 and closed[0] > 0.05  # one number per image, not trivially 0
        assert abs(sampled.mean() - closed[0]) < 4 * sampled.std() / np.sqrt(3000), (sampled.mean(), closed[0])


def test_the_importance_weighted_bound_uses_the_vamp_prior_and_k1_is_the_elbo(model, rng):
    x = np.repeat(rng.uniform(size=(1, *SHAPE)).astype(np.float32), 4000, axis=0)
    latent = model.latent_model()
    one = iwae.iwae(latent, {"images": x}, k=1).numpy()
    elbo = -model.loss_terms({"images": x})["loss"].numpy()
    # Two unbiased single-sample estimates of one ELBO, with the VampPrior in both ...
    tolerance = 4 * np.hypot(one.std(), elbo.std()) / np.sqrt(len(x))
    assert abs(one.mean() - elbo.mean()) < tolerance
    # ... which the ELBO under N(0, I) (the VAE's closed form, same networks) is far from.
    standard = -VAE.loss_terms(model, {"images": x[:1]})["loss"].numpy()[0]
    assert abs(standard - elbo.mean()) > 10 * tolerance, (standard, elbo.mean(), tolerance)
    many = iwae.iwae(latent, {"images": x[:200]}, k=100).numpy()
    assert many.mean() > one.mean() + 4 * one.std() / np.sqrt(len(x))


def test_samples_are_seeded_and_come_from_the_mixture(rng):
    model = distinct(VampVAE(pseudo_inputs=6, **SMALL), rng)
    layer = model.encoder.get_layer("z_log_var")
    kernel, bias = layer.get_weights()
    layer.set_weights([np.zeros_like(kernel), np.full_like(bias, -12.0)])  # sigma = exp(-6) = 0.0025
    sigma = np.exp(-6.0)
    mu = model.pseudo_posteriors()[0].numpy()
    apart = np.abs(mu[:, None] - mu[None]).max(-1)[~np.eye(6, dtype=bool)]
    assert apart.min() > 100 * sigma  # each draw's component is unambiguous

    z = model.latent_samples(600, seed=3).numpy()
    distance = np.abs(z[:, None] - mu[None]).max(-1) / sigma  # [600, K], in posterior sigmas
    assert distance.min(axis=1).max() < 6  # every draw is within a few sigma of one mu_k
    counts = np.bincount(distance.argmin(axis=1), minlength=6)
    assert stats.chisquare(counts).pvalue > 1e-3, counts  # the pseudo-inputs are picked uniformly
    standard = rng.normal(size=(600, LATENT))  # what N(0, I) would give fails that test
    assert (np.abs(standard[:, None] - mu[None]).max(-1).min(axis=1) / sigma > 6).mean() > 0.9
    np.testing.assert_allclose(z.std(axis=0), mu.std(axis=0), rtol=0.25)  # the mixture's spread

    np.testing.assert_array_equal(model.latent_samples(600, seed=3), z)
    assert not np.allclose(model.latent_samples(600, seed=4), z)
    images = model.sample(4, seed=1).numpy()
    assert images.shape == (4, *SHAPE) and 0 <= images.min() and images.max() <= 1
    np.testing.assert_array_equal(model.sample(4, seed=1), images)
    np.testing.assert_array_equal(model.sample(4, seed=1, sampler="normal"), images)  # "normal": its own prior
    assert not np.allclose(model.sample(4, seed=2), images)
    assert model.prior_description.startswith("decoder means of z ~ the VampPrior (6 pseudo-inputs)")


def test_a_fitted_sampler_still_replaces_the_prior():
    class Fixed:  # what attach_sampler takes: its dimensions, and sample(n, seed) -> codes [n, latent_dim]
        dimensions = LATENT

        def sample(self, n, seed=None):
            return np.full((n, LATENT), 0.5, np.float32)

    model = VampVAE(pseudo_inputs=K, **SMALL)
    model.attach_sampler("gmm", Fixed())
    np.testing.assert_array_equal(model.latent_samples(3, seed=0, sampler="gmm"), np.full((3, LATENT), 0.5))
    np.testing.assert_array_equal(model.sample(3, seed=0, sampler="gmm"), model.decode(np.full((3, LATENT), 0.5)))


def test_config_and_keras_file_keep_the_pseudo_inputs(model, tmp_path, rng):
    config = model.get_config()
    assert config["pseudo_inputs"] == K
    assert VampVAE.from_config(config).get_config() == config
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert type(loaded) is VampVAE and loaded.pseudo_inputs == K
    np.testing.assert_array_equal(loaded.pseudo_input_weights.numpy(), model.pseudo_input_weights.numpy())
    assert loaded.pseudo_input_gain == model.pseudo_input_gain
    z = rng.normal(size=(4, LATENT)).astype(np.float32)
    np.testing.assert_array_equal(loaded.latent_prior().log_prob(z), model.latent_prior().log_prob(z))


@pytest.mark.parametrize("value", [0, -3, 2.5, True])
def test_pseudo_inputs_must_be_a_positive_integer(value):
    with pytest.raises(ConfigError, match=r"^pseudo_inputs must be an integer >= 1 \(the VampPrior's components\)"):
        VampVAE(pseudo_inputs=value, **SMALL)


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), "10"])
def test_the_gain_must_be_a_positive_number(value):
    with pytest.raises(ConfigError, match=r"^pseudo_input_gain must be a number > 0 \(u = sigmoid\(gain \* w\)\)"):
        VampVAE(pseudo_input_gain=value, **SMALL)


def tiny_settings():
    """--set KEY=VALUE for the entry's own test size, on the offline digits."""
    overrides = {**read_entry("vamp_vae")["test_overrides"], "dataset": "mnist_5k", "batch_size": 64}
    text = {key: value if isinstance(value, str) else json.dumps(value) for key, value in overrides.items()}
    return [arg for key, value in text.items() for arg in ("--set", f"{key}={value}")]


def test_the_entry_trains_evaluates_and_reloads_through_the_cli(cli, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = cli(
        "train", "vamp_vae", "--epochs", "2", "--seed", "0", "--out", out, "--limit", "512", *tiny_settings()
    )
    assert code == 0, err
    assert "kl:" in stdout and "Traceback" not in err
    code, stdout, err = cli("evaluate", out, "--k", "50", "--limit", "256")
    assert code == 0, err
    assert "prior: the VampPrior (8 pseudo-inputs)" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["iwae_k"] == 50 and np.isfinite([metrics["iwae"], metrics["elbo"]]).all()
    assert metrics["elbo"] == pytest.approx(-(metrics["reconstruction"] + metrics["kl"]), rel=1e-5)
    # A bound at least the ELBO in expectation; two epochs of the tiny networks leave q(z|x) near
    # the prior (kl ~ 0.01 nats), so the two differ by little more than their noise here (the
    # bound's rise with k is tested above, on a model far from its prior).
    assert metrics["elbo"] - 0.05 < metrics["iwae"] < 0, (metrics["elbo"], metrics["iwae"])
    assert len(metrics["kl_per_dim"]) == 4

    model = loading.load_run_model(out)
    assert type(model) is VampVAE and model.pseudo_inputs == 8
    runs.save_model(model, tmp_path / "again.keras", include_optimizer=False)
    again = keras.models.load_model(tmp_path / "again.keras")
    np.testing.assert_array_equal(again.pseudo_images(), model.pseudo_images())
    code, stdout, err = cli("sample", out, "--n", "4", "--out", tmp_path / "samples")
    assert code == 0, err


def test_a_bad_pseudo_input_count_on_the_command_line_is_one_error_line(cli, tmp_path):
    for value, says in (("0", "pseudo_inputs must be an integer >= 1"), ("2.5", "wrong type")):
        code, _, err = cli(
            "train",
            "vamp_vae",
            "--set",
            "dataset=mnist_5k",
            "--set",
            f"pseudo_inputs={value}",
            "--out",
            tmp_path / value,
        )
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert code == 2 and len(errors) == 1 and says in errors[0], err
        assert "Traceback" not in err
