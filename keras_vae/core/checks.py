"""Hyperparameter checks for model constructors: one clear ConfigError each."""

import math
import numbers

from keras_vae.core.errors import ConfigError


def checked(name, value, valid, expected, kind=numbers.Real):
    """`value` if it is a finite number of `kind` with valid(value), else one clear ConfigError.

    Args:
        name: the hyperparameter's name, for the message.
        value: the value given.
        valid: predicate on the value, e.g. `lambda v: v >= 0`.
        expected: what a valid value is, completing "{name} must be ...", e.g. "an integer >= 1".
        kind: the numeric type required (`numbers.Real` by default; `int` for counts). A bool is
            never accepted, nor NaN or an infinity.

    Returns:
        `value`, unchanged.

    Raises:
        ConfigError: "{name} must be {expected}, got {value!r}".
    """
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value) or not valid(value):
        raise ConfigError(f"{name} must be {expected}, got {value!r}")
    return value


def positive_ints(name, values, allow_empty=False):
    """A tuple of integers >= 1 (non-empty unless allow_empty), else one clear ConfigError.

    Args:
        name: the hyperparameter's name (or names), for the message.
        values: a list or tuple of ints; a single int counts as a list of one.
        allow_empty: whether [] is valid (a dense network with no hidden layers).

    Returns:
        tuple of int.

    Raises:
        ConfigError: an entry is not an int >= 1 (bools are refused), or the list is empty.
    """
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if (not values and not allow_empty) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values
    ):
        kind = "a list" if allow_empty else "a non-empty list"
        raise ConfigError(f"{name} must be {kind} of integers >= 1, got {values!r}")
    return tuple(values)


HIDDEN_ACTIVATIONS = ("relu", "elu", "silu", "gelu", "tanh", "leaky_relu")


def hidden_activation(name):
    """`name` if it is one of HIDDEN_ACTIVATIONS (Keras activations, by name), else a ConfigError.

    Args:
        name: a Keras activation name, e.g. "relu".

    Returns:
        `name`, unchanged.

    Raises:
        ConfigError: `name` is not in HIDDEN_ACTIVATIONS.
    """
    if name not in HIDDEN_ACTIVATIONS:
        raise ConfigError(f"activation must be one of {', '.join(HIDDEN_ACTIVATIONS)}, got {name!r}")
    return name
