"""Learning-rate schedules of a run (`learning_rate_schedule` in an entry or `--set`).

    constant   config.learning_rate every epoch
    cosine     cosine decay from config.learning_rate to 0 over config.epochs (Loshchilov &
               Hutter 2017, without restarts), set once per epoch: Keras's `CosineDecay` evaluated
               at the epoch index, applied by its `LearningRateScheduler` callback

The rate is a function of the epoch index and config.epochs alone, so an interrupted run
resumes on the same curve; `resume --epochs N` stretches the curve to the new total from the
epoch it resumes at.
"""

from keras_vae.core.errors import ConfigError

SCHEDULES = ("constant", "cosine")


def check_schedule(name):
    """`name` if it is a known learning-rate schedule.

    Args:
        name: "constant" or "cosine" (SCHEDULES).

    Returns:
        `name`, unchanged.

    Raises:
        ConfigError: `name` is not in SCHEDULES.
    """
    if name not in SCHEDULES:
        raise ConfigError(f"learning_rate_schedule must be one of {', '.join(SCHEDULES)}, got {name!r}")
    return name


def learning_rate_at(config, epoch):
    """The learning rate of 0-based `epoch` under the config's schedule (a float).

    "cosine" is cosine annealing without restarts (Loshchilov & Hutter 2017, "SGDR"), by
    `keras.optimizers.schedules.CosineDecay` with decay_steps = config.epochs and alpha 0:
    lr * (1 + cos(pi * epoch / epochs)) / 2, which is lr at epoch 0 and 0 from epoch `epochs` on.

    Args:
        config: a RunConfig; learning_rate, learning_rate_schedule ("constant" or "cosine") and
            epochs are read. Any schedule other than "constant" is taken as cosine
            (`check_schedule` validates the name).
        epoch: the 0-based epoch index.

    Returns:
        the learning rate, in the optimizer's units (a step-size multiplier of the gradient).
    """
    rate = config.learning_rate
    if config.learning_rate_schedule == "constant":
        return rate
    import keras

    cosine = keras.optimizers.schedules.CosineDecay(rate, decay_steps=config.epochs)
    return float(cosine(epoch))


def learning_rate_callbacks(config):
    """[the callback that sets each epoch's rate], or [] for a constant rate.

    Args:
        config: a RunConfig.

    Returns:
        [] for "constant", else [a `keras.callbacks.LearningRateScheduler` of `learning_rate_at`].
    """
    if config.learning_rate_schedule == "constant":
        return []
    import keras

    return [keras.callbacks.LearningRateScheduler(lambda epoch: learning_rate_at(config, epoch))]
