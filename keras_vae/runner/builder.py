"""Build and compile a zoo model from a resolved run config."""

from keras_vae.catalogue.registry import model_class
from keras_vae.runner.config import plain, resolve
from keras_vae.runner.distribute import loss_scaled, steps_per_execution
from keras_vae.runner.optimizers import FusedAdam


def build_from_config(config, compile=True, optimizer=FusedAdam):
    """A model for `config` (a RunConfig), compiled with Adam (fused) at its learning rate.

    Under a mixed_float16 policy Adam is wrapped in a LossScaleOptimizer.

    Args:
        config: a RunConfig whose params are complete (`RunConfig.for_data` filled the shape).
        compile: whether to compile the model (`compile_model`).
        optimizer: the optimizer class, called with the learning rate: FusedAdam, or
            `keras.optimizers.Adam` for the bench's comparison of the two.

    Returns:
        the `keras.Model`.
    """
    model = model_class(config.class_name)(**plain(config.params))
    return compile_model(model, config, optimizer) if compile else model


def compile_model(model, config, optimizer=FusedAdam):
    """Compile `model` for training with the learning rate and speed settings of `config`.

    Args:
        model: a zoo `keras.Model`.
        config: a RunConfig, or a stage's (`config.stage(name)`).
        optimizer: the optimizer class, called with the learning rate (default FusedAdam).

    Returns:
        `model`, compiled.
    """
    model.compile(
        optimizer=loss_scaled(model, optimizer(config.learning_rate)),
        jit_compile=config.jit_compile,
        steps_per_execution=steps_per_execution(config),
    )
    return model


def build(name, compile=True, **overrides):
    """Build zoo entry `name`, e.g. `build("conv_vae", latent_dim=2)`: an untrained model.

    Args:
        name: a zoo entry name.
        compile: whether to compile it for training (Adam at the entry's learning rate).
        **overrides: settings as `--set` takes them (see `keras_vae.runner.config.resolve`).

    Returns:
        the ZooModel, its image shape (and classes) from the entry's dataset.

    Raises:
        UserError: an unknown entry or setting, or a bad value.
    """
    from keras_vae.data.datasets import known_model_params  # imports TensorFlow: only when building

    config = resolve(name, overrides)
    config = config.for_data(config.dataset, lambda: known_model_params(config.dataset, config.image_size, config.crop))
    return build_from_config(config, compile=compile)
