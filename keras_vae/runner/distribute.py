"""Precision policy, tf.distribute strategy and XLA for a training run.

`train.py` asks for a strategy first (MultiWorkerMirroredStrategy must exist before other TF
work), then builds or loads the model through `build`: the dtype policy is set while the layers
are constructed and everything, the noise generators included, is created in `strategy.scope()`.
The batch size of a config is the global batch: each of N replicas sees batch_size / N.
"""

import contextlib
import json
import os

from keras_vae.core.errors import ConfigError, UserError

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi_worker")


def check_options(config):
    """Reject bad values and combinations of the speed and scale fields of `config` (a RunConfig).

    Args:
        config: a `keras_vae.runner.config.RunConfig`; precision, strategy, jit_compile and
            steps_per_execution are read.

    Raises:
        ConfigError: one line naming the field and the values it takes.
    """
    if config.precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {config.precision!r}")
    if config.strategy not in STRATEGIES:
        raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}, got {config.strategy!r}")
    if not isinstance(config.jit_compile, bool):
        raise ConfigError(f"jit_compile must be true or false, got {config.jit_compile!r}")
    spe = config.steps_per_execution
    if spe is not None and (not isinstance(spe, int) or isinstance(spe, bool) or spe < 1):
        raise ConfigError(f"steps_per_execution must be an integer >= 1 (or null: automatic), got {spe!r}")
    if spe not in (None, 1) and config.strategy != "default":
        raise ConfigError(
            f"steps_per_execution {spe} fails under strategy {config.strategy!r} in Keras 3.15 "
            "(its multi-step loop cannot feed distributed batches); leave it unset or use 1"
        )
    if config.jit_compile and config.strategy != "default":
        raise ConfigError(
            f"jit_compile (XLA) works only for single-device training, not with strategy "
            f"{config.strategy!r}: drop --jit-compile or use --strategy default"
        )


# Train steps per tf.function call when a config leaves it unset, on one device. Measured with
# `python -m keras_vae.bench`: dense_vae ~1.2x the images/s of 1 step per call; conv_vae, whose
# steps are long, the same. Under a strategy it must be 1 (see check_options).
SINGLE_DEVICE_STEPS = 32


def steps_per_execution(config):
    """The config's steps_per_execution, with null (the default) resolved for its strategy.

    Args:
        config: a RunConfig.

    Returns:
        int >= 1: the config's value, else SINGLE_DEVICE_STEPS (32) under strategy "default" and 1
        under any other.
    """
    steps = config.steps_per_execution
    if steps is None:
        return SINGLE_DEVICE_STEPS if config.strategy == "default" else 1
    return steps


def tf_config_workers():
    """The number of tasks in the cluster that TF_CONFIG describes (a UserError if it is unusable).

    Returns:
        int >= 2: the number of addresses over every task type in TF_CONFIG's "cluster".

    Raises:
        UserError: TF_CONFIG is unset or empty, is not JSON with "cluster" and "task" (type and
            index), or names a single task.
    """
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise UserError("strategy multi_worker needs TF_CONFIG (cluster and task) set on every worker")
    try:
        tf_config = json.loads(text)
        tasks = sum(len(addresses) for addresses in tf_config["cluster"].values())
        tf_config["task"]["type"], tf_config["task"]["index"]
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
        raise UserError(f"TF_CONFIG must be JSON with 'cluster' and 'task' ({error!r})") from None
    if tasks < 2:
        raise UserError("TF_CONFIG names one task: use strategy mirrored on a single machine")
    return tasks


def make_strategy(name):
    """The tf.distribute strategy `name`. `mirrored` uses every GPU, or every (logical) CPU when
    there is no GPU; `multi_worker` reads the cluster from TF_CONFIG.

    Args:
        name: "default", "mirrored" or "multi_worker".

    Returns:
        a `tf.distribute.Strategy` ("default": the current one, no replicas beyond it).

    Raises:
        ConfigError: an unknown `name`.
        UserError: "multi_worker" with an unusable TF_CONFIG (`tf_config_workers`).
    """
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi_worker":
        tf_config_workers()
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")


# The objective sums -log p(x|z) over pixels (hundreds of nats per image), so its gradients are
# far larger than Keras's default initial loss scale (2**15) expects: float16 gradients overflow
# and the first ~8 steps are skipped while the scale halves down. Dynamic scaling still adapts.
INITIAL_LOSS_SCALE = 2.0**7


def loss_scaled(model, optimizer):
    """`optimizer`, wrapped in a LossScaleOptimizer when the model computes in float16 (compile
    would wrap it too, at a starting scale too large for our objectives).

    Dynamic loss scaling as in Micikevicius et al. 2018 ("Mixed Precision Training"), starting
    at INITIAL_LOSS_SCALE (2**7).

    Args:
        model: a Keras model; its `dtype_policy.name` is read.
        optimizer: a Keras optimizer.

    Returns:
        `optimizer` itself, or for "mixed_float16" a `keras.optimizers.LossScaleOptimizer` around it.
    """
    import keras

    if model.dtype_policy.name != "mixed_float16":
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=INITIAL_LOSS_SCALE)


def strategy_for(config):
    """The config's strategy, checked against its global batch size.

    Args:
        config: a RunConfig; strategy and batch_size (the global batch) are read.

    Returns:
        a `tf.distribute.Strategy` whose replicas each see batch_size / replicas examples.

    Raises:
        UserError: batch_size is not a multiple of the number of replicas, or (multi_worker) an
            unusable TF_CONFIG.
        ConfigError: an unknown strategy.
    """
    strategy = make_strategy(config.strategy)
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        # Keras builds the model from a first batch reduced across replicas: uneven shards fail.
        raise UserError(
            f"batch_size {config.batch_size} does not split evenly across {replicas} replicas; "
            f"use a multiple of {replicas}"
        )
    return strategy


@contextlib.contextmanager
def dtype_policy(name):
    """Set the global Keras dtype policy while layers are built; restore the previous one after
    (each layer keeps the policy it was built with).

    Args:
        name: a Keras dtype policy name: "float32", "mixed_float16" or "mixed_bfloat16" (PRECISIONS).

    Yields:
        None, with the policy set.

    Raises:
        ValueError: Keras knows no policy `name`.
    """
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build(make, strategy, precision="float32"):
    """`make()` (build or load a model) under `precision` and inside `strategy.scope()`.

    The models' noise generators are created lazily; created here, in the scope, a
    tf.random.Generator gives every replica its own stream (created later, inside the replica
    function, it would repeat the same noise on every replica).

    Args:
        make: a function of no arguments that returns the model (a ZooModel, built or loaded).
        strategy: a `tf.distribute.Strategy`.
        precision: the dtype policy to build under (PRECISIONS).

    Returns:
        the model `make` returned, its `Noise` layers' generators created.

    Raises:
        UserError: as `make` raises it (e.g. a saved model that does not load).
    """
    from keras_vae.core.keras_internals import flatten_layers
    from keras_vae.core.layers import Noise

    with dtype_policy(precision), strategy.scope():
        model = make()
        for layer in flatten_layers(model):
            if isinstance(layer, Noise):
                layer.generator  # noqa: B018  (creates it)
    return model
