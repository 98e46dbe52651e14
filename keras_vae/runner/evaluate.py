"""Evaluate a trained run on a test split, in the units the model declares (nats per example).

What is measured comes from the model: the per-example terms it logs (`evaluated_names` of its
`loss_terms`), its `evaluation_terms` (reconstruction errors, a denoiser's errors from corrupted
inputs, a VAE's ELBO and latent means, ...), its `summarize` (means, active units, ...) and, when
it declares `bound = "iwae"`, the importance-weighted bound on log p(x) with k samples
(Burda et al. 2016, `keras_vae.core.iwae`). Each number's meaning is the model's `term_docs`.
"""

import contextlib
import logging

import keras
import numpy as np
import tensorflow as tf

from keras_vae.core import iwae
from keras_vae.data import datasets
from keras_vae.runner import loading, runs

log = logging.getLogger(__name__)
METRICS = "metrics.json"
# Keys of metrics.json that others write and an evaluation keeps: the judge's numbers on samples
# (`python -m keras_vae.judge`), which do not depend on the test evaluation.
KEPT = ("sample_quality",)


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


def batch_metrics(model, batch, k, seed, latent_model=None):
    """Per-example values of one batch: {name: array [B] or [B, ...]}."""
    batch = {key: tf.convert_to_tensor(value) for key, value in batch.items()}
    terms = model.loss_terms(batch, training=False)
    out = {name: terms[name] for name in model.evaluated_names}
    out.update(model.evaluation_terms(batch, terms))
    if latent_model is not None and k:
        out["iwae"] = iwae.iwae(latent_model, batch, k, seed=seed)
    return {name: np.asarray(value) for name, value in out.items()}


def size_of(examples):
    """How many examples a dict of arrays holds (images, frames, ...: they all agree)."""
    return len(next(iter(examples.values())))


def slices(examples, batch_size):
    """The dict of arrays `examples` cut into batches of `batch_size`."""
    size = size_of(examples)
    for start in range(0, size, batch_size):
        yield {key: value[start : start + batch_size] for key, value in examples.items()}


def evaluate_model(model, examples, batch_size=128, k=1000, seed=0, progress=False):
    """Test metrics of `model` on `examples` ({"images": [N, H, W, C], "labels": [N], ...} or
    {"frames": [N, T, H, W, C]}):
    a dict of floats, ints and lists, with "legend" (name -> meaning and units). `progress`
    shows a progress bar while the importance-weighted bound runs."""
    examples = {key: examples[key] for key in model.batch_keys}
    size = size_of(examples)
    latent_model = model.latent_model() if model.bound == "iwae" and k else None
    if latent_model:
        log.info("importance sampling: %d images x k=%d samples = %d decoder passes", size, k, size * k)
    # The bound takes minutes (k decoder passes per image): show progress and an estimate.
    bar = keras.utils.Progbar(size, unit_name="image") if latent_model and progress else None
    collected = {}
    with seeded_noise(model, seed):
        for i, batch in enumerate(slices(examples, batch_size)):
            for name, value in batch_metrics(model, batch, k, [seed, i], latent_model).items():
                collected.setdefault(name, []).append(value)
            if bar:
                bar.add(size_of(batch))
    per_example = {name: np.concatenate(values) for name, values in collected.items()}
    metrics = {"split_examples": size, **model.evaluation_header()}
    summary = model.summarize(per_example)
    if "iwae" in summary:
        summary["iwae_k"] = k
    metrics.update(summary)
    metrics["legend"] = legend(model, summary, k)
    return metrics


def legend(model, names, k=None):
    """{name: meaning and units} for each of `names` the model documents (its `term_docs`)."""
    docs = model.term_docs
    out = {name: str(docs[name]) for name in names if name in docs}
    if "iwae" in out:
        out["iwae"] = out["iwae"].replace("k samples", f"k={k} samples")
    return out


def evaluate_run(
    run_dir, dataset=None, batch_size=None, limit=None, k=1000, seed=0, write=True, overwrite=False, progress=False
):
    """Evaluate a run on the test split of its dataset (or `dataset`); write `metrics_path`.

    Returns the metrics, with "dataset" and "split" first and "headline" (`model.headline`, the
    numbers `list` shows) last; losses are nats per example.
    """
    run_dir = runs.check_run_dir(run_dir)  # a zoo entry name means its shipped run
    if write:  # refuse before minutes of work, not after
        check_metrics_free(metrics_path(run_dir), overwrite)
    config = runs.read_config(run_dir)
    model = loading.load_run_model(run_dir)
    data = datasets.load(dataset or config.dataset, image_size=config.image_size, crop=config.crop)
    data.check_fits(model)
    metrics = {"dataset": data.name, "split": "test"}
    metrics.update(
        evaluate_model(model, data.examples("test", limit), batch_size or config.batch_size, k, seed, progress)
    )
    metrics["headline"] = model.headline(metrics)  # what `list` shows, in the model's own words
    if write:
        write_metrics(metrics_path(run_dir), metrics, overwrite)
    return metrics


def check_metrics_free(path, overwrite=False):
    """An existing metrics.json (minutes of IWAE, or another dataset's) is replaced only with
    overwrite."""
    from keras_vae.core.errors import UserError

    if path.exists() and not overwrite:
        old = runs.read_json(path)
        if set(old) <= set(KEPT):  # only the judge's numbers: no evaluation to lose
            return
        bound = f", IWAE k={old['iwae_k']}" if old.get("iwae_k") else ""
        raise UserError(
            f"{path} exists ({old.get('dataset')}, {old.get('split_examples')} test images{bound}); "
            "pass --overwrite (in Python: overwrite=True) to replace it"
        )


def write_metrics(path, metrics, overwrite=False):
    """Write `metrics` to `path`, keeping the KEPT keys of a metrics.json already there."""
    check_metrics_free(path, overwrite)
    kept = {key: value for key, value in (runs.read_json(path) if path.exists() else {}).items() if key in KEPT}
    path.parent.mkdir(parents=True, exist_ok=True)
    runs.write_json(path, {**metrics, **kept})


def metrics_path(run_dir):
    """RUN_DIR/metrics.json; for a shipped zoo entry, under runs/ (zoo/ is never written)."""
    return runs.output_dir(run_dir) / METRICS
