"""Export a trained run folder for deployment: SavedModel for TF Serving, ONNX for onnxruntime.

Every artifact is reloaded and compared with the Keras model (`verify.py`) before it is moved
into place, so an artifact on disk is one that computes what the Keras model computes. Nothing
here imports training code: export needs only the run folder.
"""

from keras_vae.export.artifacts import FORMATS, export_run
from keras_vae.export.errors import ExportFailed

__all__ = ["ExportFailed", "FORMATS", "export_run"]
