"""Hyperparameter checks for model constructors: one clear ConfigError each."""

import math
import numbers

from keras_vae.errors import ConfigError


def checked(name, value, valid, expected, kind=numbers.Real):
    """`value` if it is a finite number of `kind` with valid(value), else one clear ConfigError."""
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value) or not valid(value):
        raise ConfigError(f"{name} must be {expected}, got {value!r}")
    return value


def positive_ints(name, values):
    values = list(values)
    if not values or not all(isinstance(v, int) and v >= 1 for v in values):
        raise ConfigError(f"{name} must be a non-empty list of integers >= 1, got {values!r}")
    return tuple(values)
