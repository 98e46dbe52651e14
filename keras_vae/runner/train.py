"""Train a zoo entry into a run folder, or resume one: every stage in turn (`keras_vae.runner.stages`).

`train` resolves the entry and the user's settings into a RunConfig (`keras_vae.runner.config`),
checks everything before it touches the disk, then fits the model and each later stage;
`resume` reads the run's config.json back and continues from the last checkpoint.
"""

import dataclasses
import json
import logging
import os
import shutil
from datetime import datetime
from pathlib import Path

import keras
import numpy as np

from keras_vae.catalogue import registry
from keras_vae.core.errors import UserError
from keras_vae.data import datasets
from keras_vae.runner import builder, distribute, runs, samplers, stages
from keras_vae.runner import config as run_config
from keras_vae.runner.fit import fit, restore

log = logging.getLogger(__name__)


def default_run_dir(entry, root="runs"):
    """runs/<entry>/<date>-<time>-<process id>: unique per process, so two runs started in the
    same second never share a folder (and a -2, -3, ... suffix if one process starts two)."""
    base = Path(root) / entry / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run_dir, n = base, 1
    while run_dir.exists():
        n += 1
        run_dir = base.with_name(f"{base.name}-{n}")
    return run_dir


def prepare_run_dir(run_dir, overwrite=False):
    """An empty run folder at `run_dir`; an old run there is replaced (with `overwrite`) only
    while no other process trains it."""
    runs.check_run_dir_free(run_dir, overwrite)
    if run_dir.is_dir():
        if (run_dir / runs.CONFIG).is_file():
            with runs.training_lock(run_dir):
                shutil.rmtree(run_dir)
        else:
            shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    return run_dir


def load_data(config):
    """(config, data): the config's dataset, with its validation split held out of "train", and
    the config of the run on it (`RunConfig.for_data`: the dataset actually used, and the
    constructor arguments the data decides, image_shape and num_classes, where the config leaves
    them null)."""
    data = datasets.load(config.dataset, image_size=config.image_size, crop=config.crop)
    data = data.with_validation(config.validation_fraction, config.validation_seed)
    if config.shuffle_buffer is not None:
        if not isinstance(data, datasets.ImageData):
            raise UserError(f"shuffle_buffer applies to image datasets, not {config.dataset} (shuffled whole)")
        data = dataclasses.replace(data, shuffle_buffer=config.shuffle_buffer)
    return config.for_data(data.name, lambda: datasets.model_params(data)), data


def run_description(entry, params):
    """The entry's description, followed by the model settings this run changes, so it never
    contradicts the run (e.g. 'Bernoulli likelihood' under --set likelihood=gaussian)."""
    stored = run_config.load_entry(entry)
    defaults = stored.get("params", {})
    changed = [
        f"{key}={json.dumps(value)} (entry: {json.dumps(defaults[key]) if key in defaults else 'default'})"
        for key, value in run_config.plain(params).items()
        if key != "image_shape" and (key not in defaults or defaults[key] != value)
    ]
    text = stored.get("description", entry)
    return f"{text}; this run changes {', '.join(changed)}" if changed else text


def train(
    entry,
    overrides=None,
    run_dir=None,
    seed=None,
    overwrite=False,
    verbose="auto",
    limit=None,
    callbacks=(),
    stage=None,
):
    """Train zoo entry `entry` with `overrides` into a new run folder.

    Every stage the model has (`keras_vae.runner.stages`: the model, then e.g. its prior) is
    trained in turn; `stage="model"` trains the model alone (`resume` trains the rest later).

    Args:
        entry: a zoo entry name.
        overrides: {setting: value} as `--set` takes them.
        run_dir: the new run folder (default runs/<entry>/<timestamp>).
        seed: the run's random seed (default: drawn, and recorded in config.json).
        overwrite: replace an existing run folder `run_dir`.
        verbose: Keras's fit verbosity.
        limit: keep the first N examples of each split (quick checks and tests); recorded, so
            `resume` trains on the same images.
        callbacks: extra Keras callbacks for every stage.
        stage: None (every stage) or "model".

    Returns:
        (model, run_dir).

    Raises:
        UserError: a bad entry, setting, folder or stage, found before anything is written;
            training stopped by a non-finite loss (`keras_vae.runner.fit.NonFiniteGuard`).
        keras_vae.runner.fit.Interrupted: Ctrl-C; the run folder keeps its last checkpoint.
    """
    requested = run_config.resolve(entry, overrides)
    if stages.check(registry.model_class(requested.class_name), stage) not in (None, stages.MODEL):
        raise UserError(f"a new run starts with its model: --stage {stage} continues a run (--resume RUN_DIR)")
    requested = dataclasses.replace(requested, limit=limit, description=run_description(entry, requested.params))
    run_dir = Path(run_dir or default_run_dir(entry))
    runs.check_run_dir_free(run_dir, overwrite)
    if requested.strategy == "multi_worker" and seed is None:
        raise UserError("strategy multi_worker needs --seed: every worker must shuffle the data alike")
    strategy = distribute.strategy_for(requested)  # before any other TF work
    on_data, data = load_data(requested)
    config = dataclasses.replace(on_data, seed=int(np.random.SeedSequence().entropy % 2**31) if seed is None else seed)
    keras.utils.set_random_seed(config.seed)
    model = distribute.build(lambda: builder.build_from_config(config), strategy, config.precision)
    # Only now, with every input checked, is anything on disk touched.
    prepare_run_dir(run_dir, overwrite)
    with runs.training_lock(run_dir):
        runs.write_config(run_dir, config)
        log.info(
            "training %s (%s, %d parameters) on %s into %s",
            entry,
            config.class_name,
            model.count_params(),
            data.name,
            run_dir,
        )
        model = fit(model, data, config, run_dir, 0, [], verbose, callbacks)
        if stage is None:
            stages.fit_later(model, data, config, run_dir, strategy, verbose, callbacks)
    return model, run_dir


def resume(run_dir, epochs=None, verbose="auto", limit=None, callbacks=(), stage=None):
    """Continue a run: every unfinished stage in order from its last checkpoint, or `stage` alone
    (`--stage prior --epochs 60` trains a prior on; a stage not yet started starts).

    Args:
        run_dir: the run folder.
        epochs: the new total epochs of the stage resumed (default: the run's own).
        verbose, callbacks: as for `train`.
        limit: must equal the run's recorded limit if given (resume keeps the run's images).
        stage: a stage name (`keras_vae.runner.stages.names`), or None for every unfinished one.

    Returns:
        (model, run_dir).

    Raises:
        UserError: not a run folder, a zoo entry's shipped folder, a different limit, an unknown
            stage, nothing left to train, another process training the run, a folder that
            cannot be written (`keras_vae.runner.runs.training_lock`), or a config.json edited in
            a setting a resume cannot honour (`check_resumable`).
    """
    run_dir = runs.refuse_zoo(runs.check_run_dir(run_dir))
    with runs.training_lock(run_dir):
        return resume_locked(run_dir, epochs, verbose, limit, callbacks, stage)


def resume_locked(run_dir, epochs, verbose, limit, callbacks, stage):
    """`resume`, with the run's lock held."""
    stored = runs.read_json(run_dir / runs.CONFIG)
    config = run_config.RunConfig.from_json(stored)
    if "validation_fraction" not in stored:
        log.warning(
            "%s was trained before validation splits (its val_* logs are on the test split): it resumes "
            "on its whole train split, as before, without validation logs",
            run_dir,
        )
    if limit is not None and limit != config.limit:
        run_config.check_limit(limit)
        recorded = "every image" if config.limit is None else f"--limit {config.limit}"
        raise UserError(
            f"{run_dir} was trained with {recorded}, not --limit {limit}; resume keeps the run's "
            "own images (omit --limit)"
        )
    cls = registry.model_class(config.class_name)
    stage, alone = stages.to_resume(run_dir, config, cls, stage, epochs)
    if epochs is not None:
        config = config.with_epochs(epochs, stage)
    strategy = distribute.strategy_for(config)
    config, data = load_data(config)
    if stage == stages.SAMPLER:
        return fit_sampler(run_dir, config, data), run_dir
    if stage == stages.MODEL:
        model = resume_model(run_dir, config, strategy, data, cls, verbose, callbacks)
        if alone:
            return model, run_dir
        first = None
    else:
        if not (run_dir / runs.MODEL).is_file():
            raise UserError(f"{run_dir} has no finished {runs.MODEL} yet: resume its model first (--stage model)")
        model = distribute.build(lambda: runs.load_model(run_dir / runs.MODEL), strategy, config.precision)
        runs.write_config(run_dir, config)
        first = stage
    stages.fit_later(model, data, config, run_dir, strategy, verbose, callbacks, first, alone)
    return model, run_dir


def fit_sampler(run_dir, config, data):
    """Fit the run's sampler of its code (`keras_vae.runner.samplers`) on its finished model."""
    if not (run_dir / runs.MODEL).is_file():
        raise UserError(f"{run_dir} has no finished {runs.MODEL} yet: resume its model first (--stage model)")
    model = runs.load_model(run_dir / runs.MODEL)
    samplers.fit_run(model, data, config, run_dir)
    return model


# What a resume takes from config.json even when it differs from what the checkpoint trained with:
# the length and the learning rate (history.json records each epoch's rate) and how the steps run.
RESUME_MAY_CHANGE = {
    "epochs",
    "learning_rate",
    "learning_rate_schedule",
    "strategy",
    "jit_compile",
    "steps_per_execution",
    "description",
    "stages",
    "written_by",
}


def check_resumable(run_dir, config):
    """Refuse, in one line, a config.json edited since the checkpoint in a setting the resume
    cannot honour (the model, the data, the batch, the precision, the seed: every field but
    RESUME_MAY_CHANGE), so the run's files never record a value it did not train with. Run
    folders from before state.json recorded "trained_with" are not checked.

    Raises:
        UserError: naming each such setting with the checkpoint's value and config.json's.
    """
    recorded = runs.read_json(run_dir / runs.STATE).get("trained_with")
    if not isinstance(recorded, dict):
        return
    now = config.to_json()
    changed = sorted(
        key for key in set(recorded) | set(now) if key not in RESUME_MAY_CHANGE and recorded.get(key) != now.get(key)
    )
    if changed:
        what = ", ".join(
            f"{key} {json.dumps(now.get(key))} (trained with {json.dumps(recorded.get(key))})" for key in changed
        )
        raise UserError(
            f"{run_dir}/config.json changes {what} since its checkpoint; a resume cannot: put "
            "it back, or train a new run with --set (only epochs, the learning rate and its schedule, "
            "and how steps run may change on resume)"
        )


def resume_model(run_dir, config, strategy, data, cls, verbose, callbacks):
    """Fit the run's model on from its checkpoint up to `config.epochs`."""
    if not (run_dir / runs.CHECKPOINT).is_file():
        raise UserError(f"{run_dir} has no {runs.CHECKPOINT} to resume from")
    done = runs.epochs_done(run_dir)
    if done >= config.epochs:
        raise UserError(f"{run_dir} already has {done} of {config.epochs} epochs; pass a larger --epochs")
    stages.check_none_trained(run_dir, cls)
    check_resumable(run_dir, config)
    model, history = restore(run_dir, done, config, strategy)
    runs.write_config(run_dir, config)
    log.info("resuming %s at epoch %d of %d", run_dir, done, config.epochs)
    return fit(model, data, config, run_dir, done, history, verbose, callbacks)
