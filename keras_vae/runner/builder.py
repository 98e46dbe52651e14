"""Build and compile a zoo model from a resolved run config."""

from keras_vae.catalogue.registry import model_class
from keras_vae.runner.config import fill_from_data, resolve
from keras_vae.runner.distribute import loss_scaled, steps_per_execution
from keras_vae.runner.optimizers import FusedAdam


def build_from_config(config, compile=True, optimizer=FusedAdam):
    """A model for a resolved config, compiled with Adam (fused) at the config's learning rate.

    Under a mixed_float16 policy Adam is wrapped in a LossScaleOptimizer.

    Args:
        config: a resolved run config.
        compile: whether to compile the model (`compile_model`).
        optimizer: the optimizer class, called with the learning rate: FusedAdam, or
            `keras.optimizers.Adam` for the bench's comparison of the two.

    Returns:
        the `keras.Model`.
    """
    model = model_class(config["class"])(**config["params"])
    return compile_model(model, config, optimizer) if compile else model


def compile_model(model, config, optimizer=FusedAdam):
    """Compile `model` for training with the config's learning rate and speed settings.

    Args:
        model: a zoo `keras.Model`.
        config: a resolved run config.
        optimizer: the optimizer class, called with the learning rate (default FusedAdam).

    Returns:
        `model`, compiled.
    """
    model.compile(
        optimizer=loss_scaled(model, optimizer(config["learning_rate"])),
        jit_compile=config.get("jit_compile", False),
        steps_per_execution=steps_per_execution(config),
    )
    return model


def build(name, compile=True, **overrides):
    """Build zoo entry `name`, e.g. `build("conv_vae", latent_dim=2)`."""
    from keras_vae.data.datasets import known_model_params  # imports TensorFlow: only when building

    config = resolve(name, overrides)
    fill_from_data(config, lambda: known_model_params(config["dataset"]))
    return build_from_config(config, compile=compile)


