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
from keras_vae.runner import disentanglement, loading, runs
from keras_vae.runner.runs import METRICS, check_metrics_free, metrics_path  # noqa: F401  (evaluate.METRICS)

log = logging.getLogger(__name__)
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
    run_dir,
    dataset=None,
    batch_size=None,
    limit=None,
    k=1000,
    seed=0,
    write=True,
    overwrite=False,
    progress=False,
    disentanglement_settings=None,
):
    """Evaluate a run on the test split of its dataset (or `dataset`); write it (see `evaluation`).

    On data with ground-truth factors (dSprites), a model with a latent code is also measured by the
    disentanglement metrics (`keras_vae.runner.disentanglement`), under "disentanglement";
    `disentanglement_settings` overrides their sample sizes, and False skips them.

    Returns the metrics, with "dataset" and "split" first and "headline" (`model.headline`, the
    numbers `list` shows) last; losses are nats per example.
    """
    return evaluation(
        run_dir, dataset, batch_size, limit, k, seed, write, overwrite, progress, disentanglement_settings
    )[0]


def evaluation(
    run_dir,
    dataset=None,
    batch_size=None,
    limit=None,
    k=1000,
    seed=0,
    write=True,
    overwrite=False,
    progress=False,
    disentanglement_settings=None,
):
    """Evaluate a run, or find the evaluation with the same settings already on disk.

    Every evaluation records its settings ("settings": dataset, split, limit, k, batch_size,
    seed). The first one written is RUN_DIR/metrics.json (what `list` and the model cards read);
    one with other settings goes beside it, to a file whose name says them
    (`settings_file`: metrics_k5_batch64_seed0_limit50.json), so no evaluation replaces another.
    The same settings again read the kept file instead of computing. overwrite computes afresh
    and replaces metrics.json.

    Returns:
        (metrics, path, kept): the metrics; the file they are in (None without write); whether
        they were read from that file (True) rather than computed now.
    """
    run_dir = runs.check_run_dir(run_dir)  # a zoo entry name means its shipped run
    config = runs.read_config(run_dir)
    settings = {
        "dataset": dataset or config.dataset,
        "split": "test",
        "limit": limit,
        "k": k,
        "batch_size": batch_size or config.batch_size,
        "seed": seed,
    }
    if disentanglement_settings is not None:  # skipped (False), or other sample sizes
        settings["disentanglement"] = disentanglement_settings
    main = metrics_path(run_dir)
    named = main.with_name(settings_file(settings, config.dataset))
    if write and not overwrite:
        for path in (main, named):
            if path.is_file() and runs.read_json(path).get("settings") == settings:
                return runs.read_json(path), path, True
    model = loading.load_run_model(run_dir)
    data = datasets.load(settings["dataset"], image_size=config.image_size, crop=config.crop)
    data.check_fits(model)
    metrics = {"dataset": data.name, "split": "test"}
    metrics.update(evaluate_model(model, data.examples("test", limit), settings["batch_size"], k, seed, progress))
    if disentanglement_settings is not False:
        metrics.update(disentanglement.of_model(model, data, seed, disentanglement_settings))
    metrics["settings"] = settings  # what a repeated evaluate compares
    metrics["headline"] = model.headline(metrics)  # what `list` shows, in the model's own words
    if not write:
        return metrics, None, False
    path = main if overwrite or not holds_evaluation(main) else named
    write_metrics(path, metrics, overwrite)
    return metrics, path, False


def holds_evaluation(path):
    """Whether the metrics file `path` holds an evaluation (not only KEPT keys, such as the
    judge's numbers written before any evaluate)."""
    return path.is_file() and bool(set(runs.read_json(path)) - set(KEPT))


def settings_file(settings, own_dataset):
    """The file name of an evaluation with `settings` beside metrics.json: each setting in it,
    the dataset only when it is not the run's own (`own_dataset`)."""
    other = settings["dataset"] if settings["dataset"] != own_dataset else None
    tag = runs.suffix(
        on=other,
        k=settings["k"],
        batch=settings["batch_size"],
        seed=settings["seed"],
        limit=settings["limit"],
        disentanglement="off" if settings.get("disentanglement") is False else None,
    )
    return f"metrics{tag}.json"


def write_metrics(path, metrics, overwrite=False):
    """Write `metrics` to `path`, keeping the KEPT keys of a metrics.json already there; an
    evaluation there is replaced only with overwrite."""
    if holds_evaluation(path):
        check_metrics_free(path, overwrite)
    kept = {key: value for key, value in (runs.read_json(path) if path.exists() else {}).items() if key in KEPT}
    path.parent.mkdir(parents=True, exist_ok=True)
    runs.write_json(path, {**metrics, **kept})
