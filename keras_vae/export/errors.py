"""The export's own error: an artifact that could not be written or verified."""

from keras_vae.core.errors import UserError


class ExportFailed(UserError):
    """An artifact could not be written or did not match the Keras model; nothing was kept."""
