"""Evaluate a trained run on a test split, in the units of the literature: nats per example.

Every model: each per-example term of its `loss_terms` (so a sparse model's activity and a
contractive model's Jacobian norm come from the model itself), the BCE and MSE of the
reconstruction from the code, and, for a model that can `corrupt()` its input, the same errors
when the input is corrupted and the target clean. VAEs also: ELBO = -(reconstruction + KL), the
importance-weighted log p(x) with k samples (keras_vae.iwae), KL per latent dimension and the
active units of Burda et al. (2016).
"""

import contextlib
import logging
import re

import numpy as np
import tensorflow as tf

from keras_vae import data as datasets
from keras_vae import iwae, losses, runs
from keras_vae.models.base import VAE

log = logging.getLogger(__name__)
METRICS = "metrics.json"
ACTIVE_THRESHOLD = 0.01
# beta_vae logs each dimension's KL as kl_0, kl_1, ...: reported once, as the list kl_per_dim.
PER_DIMENSION = re.compile(r"kl_\d+$")


def active_units(latent_means, threshold=ACTIVE_THRESHOLD):
    """(count, per-dimension activity): unit i is active when Cov_x(E_q[z_i]) > threshold, the
    covariance taken over the test inputs (Burda et al. 2016, section 5.2)."""
    activity = np.var(np.asarray(latent_means, np.float64), axis=0)
    return int((activity > threshold).sum()), activity


def binarization(model):
    """What the numbers are a likelihood of: binary pixels, grey levels or a density."""
    if model.binarize:
        return "binarized: trained on fresh draws, evaluated on one fixed draw (stateless seed) of the test images"
    if model.likelihood == "bernoulli":
        return ("none: Bernoulli cross-entropy of grey levels in [0, 1], not a normalized density, "
                "so not comparable with binarized-MNIST log-likelihoods")
    return "none: Gaussian density of pixel values scaled to [0, 1], without dequantization"


def reconstruction_errors(target, raw):
    """BCE (nats per example, summed over pixels) and MSE (per pixel) of the decoder mean."""
    mean = tf.sigmoid(raw)  # the decoder mean under either likelihood (see Autoencoder.decode)
    axes = tuple(range(1, len(target.shape)))
    return {
        "bce": -losses.bernoulli_log_prob(target, raw),
        "mse": tf.reduce_mean(tf.square(tf.cast(target, tf.float32) - tf.cast(mean, tf.float32)), axes),
    }


@contextlib.contextmanager
def seeded_noise(model, seed):
    """Restart the model's noise stream (ELBO samples, corruption) from `seed`, and put it back
    afterwards: evaluation repeats exactly and leaves a training stream where it was."""
    generator = model.noise.generator
    saved = tf.identity(generator.state)
    generator.reset_from_seed(seed)
    try:
        yield
    finally:
        generator.reset(saved)


def batch_metrics(model, x, k, seed, latent_model=None):
    """Per-example values for one batch: {name: [B] array}, plus [B, latent] latent_mean and
    kl_per_dim for VAEs. `latent_model` is the model as keras_vae.iwae sees it."""
    x = tf.convert_to_tensor(x)
    target = model.targets(x, training=False)  # the same fixed binarization loss_terms draws
    terms = model.loss_terms(x, training=False)
    out = {n: terms[n] for n in model.loss_names if n in terms and not PER_DIMENSION.match(n)}
    out.update(reconstruction_errors(target, model.decoder(model.code(target))))
    if hasattr(model, "corrupt"):
        noisy_code = model.code(model.corrupt(target))
        out.update({f"corrupted_{n}": v for n, v in reconstruction_errors(target, model.decoder(noisy_code)).items()})
    if isinstance(model, VAE):
        mean, log_var = model.encode(target)
        out.update(latent_mean=mean, kl_per_dim=losses.gaussian_kl_per_dim(mean, log_var))
        if k:
            out["iwae"] = iwae.iwae(latent_model, target, k, seed=seed)
    return {name: np.asarray(value) for name, value in out.items()}


def evaluate_model(model, images, batch_size=128, k=1000, seed=0):
    """Test metrics of `model` on `images` [N, H, W, C]: a dict of floats, ints and lists."""
    latent_model = iwae.vae_latent_model(model) if isinstance(model, VAE) else None
    if latent_model and k:
        log.info("importance sampling: %d images x k=%d samples = %d decoder passes", len(images), k, len(images) * k)
    parts = {}
    with seeded_noise(model, seed):
        for i, start in enumerate(range(0, len(images), batch_size)):
            x = images[start : start + batch_size]
            for name, value in batch_metrics(model, x, k, [seed, i], latent_model).items():
                parts.setdefault(name, []).append(value)
    per_example = {name: np.concatenate(values) for name, values in parts.items()}
    latent_means = per_example.pop("latent_mean", None)
    kl_per_dim = per_example.pop("kl_per_dim", None)
    metrics = {
        "split_examples": len(images),
        "likelihood": model.likelihood,
        "binarization": binarization(model),
        "units": "nats per example (mse: per pixel)",
    }
    if isinstance(model, VAE):
        metrics["elbo"] = -float(np.mean(per_example["reconstruction"] + per_example["kl"]))
        if k:
            metrics.update(iwae=float(per_example.pop("iwae").mean()), iwae_k=k)
    metrics.update({name: float(value.mean()) for name, value in per_example.items()})
    if isinstance(model, VAE):
        count, activity = active_units(latent_means)
        metrics.update(
            active_units=count,
            latent_dim=model.latent_dim,
            activity_per_dim=activity.round(6).tolist(),
            kl_per_dim=kl_per_dim.mean(axis=0).round(6).tolist(),
        )
    return metrics


def evaluate_run(run_dir, dataset=None, batch_size=None, limit=None, k=1000, seed=0, write=True, overwrite=False):
    """Evaluate a run on the test split of its dataset (or `dataset`); write `metrics_path`.

    Returns the metrics, with "dataset" and "split" first; losses are nats per example.
    """
    run_dir = runs.check_run_dir(run_dir)  # a zoo entry name means its shipped run
    config = runs.read_config(run_dir)
    model = runs.load_run_model(run_dir)
    data = datasets.load(dataset or config["dataset"])
    data.check_fits(model.image_shape)
    images = data.x_test[:limit]
    metrics = {"dataset": data.name, "split": "test"}
    metrics.update(evaluate_model(model, images, batch_size or config["batch_size"], k, seed))
    if write:
        write_metrics(metrics_path(run_dir), metrics, overwrite)
    return metrics


def write_metrics(path, metrics, overwrite=False):
    """Write metrics.json; an existing one (minutes of IWAE, or another dataset's) is replaced
    only with overwrite."""
    from keras_vae.errors import UserError

    if path.exists() and not overwrite:
        old = runs.read_json(path)
        raise UserError(f"{path} exists ({old.get('dataset')}, {old.get('split_examples')} test images, "
                        f"k={old.get('iwae_k', 0)}); pass --overwrite to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    runs.write_json(path, metrics)


def metrics_path(run_dir):
    """RUN_DIR/metrics.json; for a shipped zoo entry, under runs/ (zoo/ is never written)."""
    return runs.output_dir(run_dir) / METRICS
