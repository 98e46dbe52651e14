"""Training stages: the model, then the learned priors it trains after itself, in one place.

A model declares `stages`, what it trains after its own weights: a VQ-VAE's ("prior",),
VQ-VAE-2's ("top_prior", "bottom_prior"). Each is a ZooModel of its own, trained on the frozen
model's outputs (`model.stage_model(name)`, `model.stage_batch(name, batch)`) in RUN_DIR/<name>/
with the layout of a run folder, and attached to the model once loaded (`model.attach`) for
sampling, evaluation and export. The command line names the model itself as the first stage,
`model` (`train NAME --stage model`, `train --resume RUN --stage prior`).

This module is what knows that: the names and folders of the stages, fitting and resuming them,
attaching the trained ones, and the files a shipped entry carries of each.
"""

import logging
import shutil
from pathlib import Path

import numpy as np

from keras_vae.core.errors import UserError
from keras_vae.runner import runs

log = logging.getLogger(__name__)

MODEL = "model"  # the first stage of every run: the model's own weights, in the run folder itself
SAMPLER = "sampler"  # a model's fitted sampler of its code (keras_vae.runner.samplers): no epochs
SHIPPED_FILES = (runs.MODEL, runs.HISTORY)  # what a shipped zoo entry carries of each later stage


def names(model):
    """Every stage of `model` (a ZooModel or its class) in training order: "model" first."""
    return (MODEL, *model.stages)


def fitted(cls):
    """("sampler",) for a model (or class) that fits samplers of its code after training, else ()."""
    return (SAMPLER,) if cls.fitted_samplers else ()


def check(cls, stage):
    """`stage`, if model class `cls` has it (None: every stage); else one UserError line."""
    known = (*names(cls), *fitted(cls))
    if stage is not None and stage not in known:
        raise UserError(f"{cls.__name__} has no stage {stage!r}; its stages: {', '.join(known)}")
    return stage


def folder(run_dir, stage):
    """Where `stage` of a run lives: the run folder itself for "model", else RUN_DIR/<stage>/."""
    return Path(run_dir) if stage == MODEL else Path(run_dir) / stage


def saved_file(run_dir, stage):
    """The saved model of a later `stage`: its final model, else its last checkpoint; None if
    the run has not trained it."""
    where = folder(run_dir, stage)
    return next((where / name for name in (runs.MODEL, runs.CHECKPOINT) if (where / name).is_file()), None)


def epochs_done(run_dir, stage):
    """Epochs of `stage` finished in the run (0 before its first checkpoint)."""
    return runs.epochs_done(folder(run_dir, stage))


def trained(run_dir, model):
    """The later stages of `model` that the run holds a saved model of."""
    return [stage for stage in model.stages if saved_file(run_dir, stage) is not None]


def attach_trained(model, run_dir):
    """Attach every later stage the run has trained (its final model, or the last checkpoint of
    an unfinished one) to `model`; returns the model."""
    for stage in trained(run_dir, model):
        model.attach(stage, runs.load_model(saved_file(run_dir, stage)))
    return model


def to_resume(run_dir, config, cls, stage=None, epochs=None):
    """(stage, alone): what `train --resume` trains. With `stage`, that stage alone; else the
    first unfinished stage and every one after it, or with `epochs` and every stage finished,
    the model (its epochs raised).

    Raises:
        UserError: every stage is finished and no larger `epochs` is given; `epochs` for the
            sampler, which has none.
    """
    if check(cls, stage) == SAMPLER and epochs is not None:
        raise UserError("a sampler is fitted, not trained: --stage sampler takes no --epochs")
    if stage is not None:
        return stage, True
    unfinished = [s for s in names(cls) if epochs_done(run_dir, s) < config.stage(s).epochs]
    if unfinished and epochs is None:
        return unfinished[0], False
    if not unfinished and epochs is None:
        later = (
            f" (the model's; a later stage trains on with --stage {cls.stages[-1]} --epochs N)" if cls.stages else ""
        )
        raise UserError(
            f"{run_dir} already has {epochs_done(run_dir, MODEL)} of {config.epochs} epochs; "
            f"pass a larger --epochs{later}"
        )
    return MODEL, False


def check_none_trained(run_dir, cls):
    """Refuse to train the model on when a later stage has trained on its outputs already."""
    stale = [s for s in (*cls.stages, *fitted(cls)) if folder(run_dir, s).exists()]
    if stale:
        raise UserError(
            f"{run_dir}'s {', '.join(stale)} trained on this model's outputs; training the model on "
            f"would leave {'them' if len(stale) > 1 else 'it'} stale: train a new run instead"
        )


def examples(model, stage, data, split, config):
    """{key: array [N, ...]}: the inputs of `stage` for every example of `split`, computed once
    by the frozen model (cheaper than encoding every epoch)."""
    from keras_vae.runner import fit

    collected = {}
    for batch in fit.batches(data, split, config, model.batch_keys, config.limit):
        for key, value in model.stage_batch(stage, batch).items():
            collected.setdefault(key, []).append(np.asarray(value))
    return {key: np.concatenate(values) for key, values in collected.items()}


def fit_stage(model, stage, data, config, run_dir, strategy, verbose="auto", callbacks=()):
    """Train (or continue) later `stage` of `model` in RUN_DIR/<stage>/ and attach it.

    Args:
        model: the trained ZooModel (frozen: only its outputs are used).
        stage: one of `model.stages`.
        data: the run's ImageData (its validation split, if any, validates the stage).
        config: the run's RunConfig; the stage trains with `config.stage(stage)`.
        run_dir: the run folder.
        strategy: the tf.distribute strategy the run trains under.

    Returns:
        the stage's trained ZooModel.

    Raises:
        UserError: the stage has all its epochs already.
    """
    # Training code, imported here: export loads a run's stages (`attach_trained`) without it.
    import keras
    import tensorflow as tf

    from keras_vae.runner import builder, distribute, fit

    settings = config.stage(stage)
    where = folder(run_dir, stage)
    done = runs.epochs_done(where)
    if done >= settings.epochs:
        raise UserError(f"{where} already has {done} of {settings.epochs} epochs; pass a larger --epochs")
    where.mkdir(exist_ok=True)
    if done:
        stage_model, history = fit.restore(where, done, config, strategy)
    else:
        keras.utils.set_random_seed(config.seed)
        stage_model = distribute.build(
            lambda: builder.compile_model(model.stage_model(stage), settings), strategy, config.precision
        )
        history = []
    log.info(
        "training the %s of %s (%d parameters) on the frozen model's outputs into %s",
        stage,
        config.entry,
        stage_model.count_params(),
        where,
    )
    train_set = examples(model, stage, data, "train", settings)
    validation = (
        tf.data.Dataset.from_tensor_slices(examples(model, stage, data, "validation", settings)).batch(
            settings.batch_size
        )
        if data.validation_fraction
        else None
    )
    train_batches = (
        tf.data.Dataset.from_tensor_slices(train_set)
        .shuffle(len(next(iter(train_set.values()))), seed=config.seed + done)
        .batch(settings.batch_size)
    )
    fit.fit_batches(stage_model, train_batches, validation, settings, where, done, history, verbose, callbacks, stage)
    model.attach(stage, stage_model)
    return stage_model


def fit_later(model, data, config, run_dir, strategy, verbose, callbacks, first=None, alone=False):
    """Train the later stages from `first` (default: the first) on, or only `first` if `alone`."""
    later = model.stages[model.stages.index(first) if first else 0 :]
    for stage in later[:1] if alone else later:
        fit_stage(model, stage, data, config, run_dir, strategy, verbose, callbacks)


def ship(run_dir, target, model):
    """Copy what a shipped zoo entry carries of each later stage of `model` from `run_dir` into
    the folder `target` (a pretrained/ being staged)."""
    for stage in model.stages:
        (Path(target) / stage).mkdir()
        for name in SHIPPED_FILES:
            shutil.copy2(folder(run_dir, stage) / name, Path(target) / stage / name)
