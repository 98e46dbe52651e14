"""The one exception type for bad user input: the CLI prints its message and exits 2."""


class UserError(Exception):
    """Bad input from the user (names, hyperparameters, files, data), not a bug in keras_vae."""


class ConfigError(UserError, ValueError):
    """A hyperparameter out of range: raised by model constructors and config checks."""
