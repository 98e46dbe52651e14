"""Hyperparameter checks for model constructors: one clear ConfigError each."""

import math
import numbers

from keras_vae.core.errors import ConfigError


def checked(name, value, valid, expected, kind=numbers.Real):
    """`value` if it is a finite number of `kind` with valid(value), else one clear ConfigError."""
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value) or not valid(value):
        raise ConfigError(f"{name} must be {expected}, got {value!r}")
    return value


def positive_ints(name, values, allow_empty=False):
    """A tuple of integers >= 1 (non-empty unless allow_empty), else one clear ConfigError."""
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if (not values and not allow_empty) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
        kind = "a list" if allow_empty else "a non-empty list"
        raise ConfigError(f"{name} must be {kind} of integers >= 1, got {values!r}")
    return tuple(values)


HIDDEN_ACTIVATIONS = ("relu", "elu", "silu", "gelu", "tanh", "leaky_relu")


def hidden_activation(name):
    """`name` if it is one of HIDDEN_ACTIVATIONS (Keras activations, by name), else a ConfigError."""
    if name not in HIDDEN_ACTIVATIONS:
        raise ConfigError(f"activation must be one of {', '.join(HIDDEN_ACTIVATIONS)}, got {name!r}")
    return name
