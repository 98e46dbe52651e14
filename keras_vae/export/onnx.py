"""ONNX through `tf2onnx.convert.from_function` on the part's serving function.

(`from_keras` does not work with Keras 3.) The batch axis is named `batch`; the run's metadata
goes into the model's metadata properties.
"""

import importlib.util
import json
import logging

from keras_vae.core.errors import UserError
from keras_vae.export.errors import ExportFailed

OPSET = 17
ONNX_FILE = "model.onnx"  # in the version folder, as in a Triton model repository


def check_installed():
    """ONNX export is an optional feature: the `onnx` extra brings what it needs.

    Raises:
        UserError: tf2onnx, onnx or onnxruntime cannot be imported (with the pip command).
    """
    missing = [name for name in ("tf2onnx", "onnx", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"ONNX export needs {', '.join(missing)}: pip install 'keras_vae[onnx]'")


def convert(function):
    """The ONNX ModelProto of a serving function (one named input, dict of named outputs).

    Converted by `tf2onnx.convert.from_function` at opset OPSET (17); the first axis of every
    graph input and output is named "batch".

    Args:
        function: a `tf.function` with an `input_signature` of named TensorSpecs, batch axis None
            (`keras_vae.export.parts.ExportedPart.function`).

    Returns:
        onnx.ModelProto.

    Raises:
        ExportFailed: the graph has a ConvTranspose with negative pads (`check_conv_transpose_pads`).
    """
    import tf2onnx

    logging.getLogger("tf2onnx").setLevel(logging.WARNING)  # it logs every rewrite at INFO
    proto, _ = tf2onnx.convert.from_function(function, input_signature=function.input_signature, opset=OPSET)
    check_conv_transpose_pads(proto)
    for value in (*proto.graph.input, *proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    return proto


def check_conv_transpose_pads(proto):
    """tf2onnx writes negative `pads` for a Conv2DTranspose whose kernel is smaller than its
    stride, and onnxruntime refuses to load such a node. The zoo's conv builders reject those
    configs (`layers.check_conv_shape`); this names the layer if another model has one.

    Args:
        proto: an onnx.ModelProto.

    Raises:
        ExportFailed: a ConvTranspose node has a negative pad, naming the node.
    """
    for node in proto.graph.node:
        for attribute in node.attribute:
            if node.op_type == "ConvTranspose" and attribute.name == "pads" and min(attribute.ints) < 0:
                raise ExportFailed(
                    f"{node.name}: tf2onnx wrote negative pads {list(attribute.ints)} (a "
                    f"Conv2DTranspose with kernel < stride), which onnxruntime rejects; "
                    f"use kernel_size >= stride"
                )


def write(part, folder, metadata):
    """Convert `part` to ONNX and write FOLDER/model.onnx, with `metadata` as model properties.

    Args:
        part: a `keras_vae.export.parts.ExportedPart`.
        folder: the version folder (a Path), created here with its parents; it must not exist.
        metadata: {key: value}; str values are stored as they are, others as JSON.

    Raises:
        ExportFailed: `convert`'s check fails.
        FileExistsError: `folder` exists already.
    """
    import onnx

    proto = convert(part.function)
    props = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    onnx.helper.set_model_props(proto, props)
    folder.mkdir(parents=True)
    onnx.save(proto, str(folder / ONNX_FILE))
