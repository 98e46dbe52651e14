"""SavedModel for TF Serving: tag `serve`, one `serving_default` signature with named tensors.

`ExportArchive` with the part's own serving function (named `TensorSpec` in, dict out) gives the
signature stable names (`z` -> `images`) instead of `args_0` / `output_0`.
"""

import json
import logging

import keras

METADATA = "assets.extra/keras_vae.json"  # beside the graph; TF Serving ignores assets.extra


def write(part, path, metadata):
    """Write `part` as a SavedModel at `path`, with `metadata` as JSON beside the graph.

    The artifact carries only the variables of `part.module` (one sub-model, or each of a tuple)
    and one endpoint, "serving_default", traced from `part.function`.

    Args:
        part: a `keras_vae.export.parts.ExportedPart`.
        path: the version folder (a Path), written by `keras.export.ExportArchive.write_out`.
        metadata: plain JSON, written to PATH/assets.extra/keras_vae.json (METADATA).

    Raises:
        FileExistsError: PATH/assets.extra exists already.
    """
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
