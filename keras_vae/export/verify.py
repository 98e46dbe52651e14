"""Reload each artifact and compare it with the Keras model on fresh random inputs.

An artifact passes when its interface is the declared one (names, dtypes, batch axis free),
it holds no random op, and at batch 1 and 64 every output is within the format's tolerance of
the Keras model's. Any failure raises `ExportFailed`; the caller then discards the artifact.
"""

import re

import numpy as np

from keras_vae.export.errors import ExportFailed
from keras_vae.export.onnx import ONNX_FILE

SAVEDMODEL_TOLERANCE = 1e-6
ONNX_TOLERANCE = 1e-5
BATCHES = (1, 64)
# TF and ONNX op types that draw random numbers (StatefulPartitionedCall is a plain call).
RANDOM_OP = re.compile(r"Random|Rng|Multinomial|TruncatedNormal|Stateful(Uniform|StandardNormal)|^Bernoulli$")


def compare(part, run, tolerance, label):
    """{batch: max abs error} of `run(x) -> {name: array}` against the Keras model.

    At each batch size in BATCHES (1 and 64), fresh inputs (a new unseeded generator) go to both
    the artifact and `part.keras_outputs`; the error passes when it is at most
    tolerance * max(1, the Keras outputs' largest magnitude).

    Args:
        part: a `keras_vae.export.parts.ExportedPart`.
        run: the reloaded artifact, {input name: array} -> {output name: array}.
        tolerance: the format's absolute tolerance (SAVEDMODEL_TOLERANCE 1e-6, ONNX_TOLERANCE 1e-5).
        label: what is compared, for the messages (e.g. "ONNX conv_vae_decoder").

    Returns:
        {batch size: max abs error over every output}, floats.

    Raises:
        ExportFailed: other output names, an output not float32 or of another shape, NaN or inf
            in either model's outputs, or an error above the tolerance (NaN included).
    """
    rng = np.random.default_rng()  # fresh inputs on every export
    errors = {}
    for batch in BATCHES:
        inputs = part.sample_inputs(rng, batch)
        expected, got = part.keras_outputs(inputs), run(inputs)
        if set(got) != set(expected):
            raise ExportFailed(f"{label}: outputs {sorted(got)}, expected {sorted(expected)}")
        for name, want in expected.items():
            have = np.asarray(got[name])
            if have.dtype != np.float32 or have.shape != want.shape:
                raise ExportFailed(
                    f"{label}: {name} is {have.dtype}{list(have.shape)}, expected float32{list(want.shape)}"
                )
            for source, values in (("the Keras model", want), (label, have)):
                if not np.isfinite(values).all():
                    raise ExportFailed(
                        f"{label}: {source} outputs NaN or inf in {name} at batch {batch}; "
                        "the weights are not finite (did training diverge?)"
                    )
        # np.max propagates NaN (Python's max would skip it), and `not error <= tolerance` fails on it.
        error = float(np.max([np.max(np.abs(np.asarray(got[n]) - want)) for n, want in expected.items()]))
        # Float32 sums in another order differ by a fixed fraction of the values: images in [0, 1]
        # get the tolerance itself, larger outputs (an encoder's codes) the same relative margin.
        scale = max(1.0, float(np.max([np.max(np.abs(want)) for want in expected.values()])))
        if not error <= tolerance * scale:
            raise ExportFailed(
                f"{label} differs from the Keras model by {error:.3g} at batch {batch} "
                f"(tolerance {tolerance:g} x {scale:.3g}, the outputs' largest magnitude)"
            )
        errors[batch] = error
    return errors


def check_interface(label, inputs, outputs, part):
    """inputs / outputs: {name: (dtype name, shape with None for the free batch axis)}.

    Args:
        label: the artifact, for the message.
        inputs: the artifact's inputs, {name: (dtype name, shape)}.
        outputs: the artifact's outputs, likewise.
        part: the `keras_vae.export.parts.ExportedPart` whose `inputs` and `outputs` they must equal.

    Raises:
        ExportFailed: either differs from the declared interface.
    """
    if inputs != part.inputs or outputs != part.outputs:
        raise ExportFailed(f"{label}: interface {inputs} -> {outputs}, expected {part.inputs} -> {part.outputs}")


def random_ops(graph_def):
    """Op types in a TF GraphDef (its function library included) that draw random numbers.

    Args:
        graph_def: a `tf.compat.v1.GraphDef`.

    Returns:
        sorted list of the op type names matching RANDOM_OP; [] for a deterministic graph.
    """
    nodes = [*graph_def.node, *(n for f in graph_def.library.function for n in f.node_def)]
    return sorted({n.op for n in nodes if RANDOM_OP.search(n.op)})


def savedmodel(part, path):
    """Reload the SavedModel at `path` and check it against the Keras model.

    Args:
        part: the `keras_vae.export.parts.ExportedPart` it was written from.
        path: the version folder (a Path).

    Returns:
        {batch size: max abs error}, floats, within SAVEDMODEL_TOLERANCE (1e-6, relative to outputs
        larger than 1) at batches 1 and 64.

    Raises:
        ExportFailed: no serving_default signature, another interface, random ops in the graph, or
            outputs that `compare` refuses.
    """
    import tensorflow as tf

    label = f"SavedModel {part.model_name}"
    signature = tf.saved_model.load(str(path), tags=["serve"]).signatures.get("serving_default")
    if signature is None:
        raise ExportFailed(f"{label}: no serving_default signature")
    spec = lambda s: (s.dtype.name, tuple(s.shape))  # noqa: E731
    check_interface(
        label,
        {k: spec(s) for k, s in signature.structured_input_signature[1].items()},
        {k: spec(s) for k, s in signature.structured_outputs.items()},
        part,
    )
    if found := random_ops(signature.graph.as_graph_def()):
        raise ExportFailed(f"{label}: random ops {found} in the graph")

    def run(inputs):
        return {k: v.numpy() for k, v in signature(**{name: tf.constant(x) for name, x in inputs.items()}).items()}

    return compare(part, run, SAVEDMODEL_TOLERANCE, label)


def onnx_model(part, folder):
    """Check the ONNX model in `folder`, run it with onnxruntime (CPU), and compare it with Keras.

    Args:
        part: the `keras_vae.export.parts.ExportedPart` it was written from.
        folder: the version folder (a Path) holding ONNX_FILE (model.onnx).

    Returns:
        {batch size: max abs error}, floats, within ONNX_TOLERANCE (1e-5, relative to outputs
        larger than 1) at batches 1 and 64.

    Raises:
        ExportFailed: the ONNX checker or onnxruntime refuses the model, another interface, random
            ops in the graph, or outputs that `compare` refuses.
    """
    import onnx
    import onnxruntime

    path = folder / ONNX_FILE
    label = f"ONNX {part.model_name}"
    proto = onnx.load(str(path))
    try:
        onnx.checker.check_model(proto, full_check=True)
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # checker and runtime raise their own types
        raise ExportFailed(f"{label}: {type(error).__name__}: {error}") from None

    def spec(value):
        dtype = onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type).name
        dims = value.type.tensor_type.shape.dim
        return (dtype, tuple(None if d.dim_param == "batch" else d.dim_value or d.dim_param for d in dims))

    check_interface(
        label,
        {v.name: spec(v) for v in proto.graph.input},
        {v.name: spec(v) for v in proto.graph.output},
        part,
    )
    if found := sorted({n.op_type for n in proto.graph.node if RANDOM_OP.search(n.op_type)}):
        raise ExportFailed(f"{label}: random ops {found} in the graph")
    names = [o.name for o in session.get_outputs()]

    def run(inputs):
        return dict(zip(names, session.run(names, inputs)))

    return compare(part, run, ONNX_TOLERANCE, label)
