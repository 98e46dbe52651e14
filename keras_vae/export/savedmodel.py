"""SavedModel for TF Serving: tag `serve`, one `serving_default` signature with named tensors.

`ExportArchive` with the part's own serving function (named `TensorSpec` in, dict out) gives the
signature stable names (`z` -> `images`) instead of `args_0` / `output_0`.
"""

import json
import logging

import keras

METADATA = "assets.extra/keras_vae.json"  # beside the graph; TF Serving ignores assets.extra


def write(part, path, metadata):
    archive = keras.export.ExportArchive()
    # Only the part's own sub-models' variables go into the artifact (a VQ decoder: codebook and decoder).
    for module in part.module if isinstance(part.module, (tuple, list)) else (part.module,):
        archive.track(module)
    archive.add_endpoint(name="serving_default", fn=part.function)
    tf_log = logging.getLogger("tensorflow")
    level = tf_log.level
    tf_log.setLevel(logging.WARNING)  # "Assets written to <staging folder>" would mislead
    try:
        archive.write_out(str(path), verbose=False)
    finally:
        tf_log.setLevel(level)
    (path / METADATA).parent.mkdir()
    (path / METADATA).write_text(json.dumps(metadata, indent=2) + "\n")
