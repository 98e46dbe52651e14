"""What gets exported: the run's model in float32 and one serving function per declared part.

A model declares its parts (`model.export_parts()`: name, named inputs with dtypes, outputs).
The serving function is the single source of truth: the SavedModel and the ONNX graph are both
traced from it, and verification runs the same function eagerly on the Keras model as the
reference. It takes only the caller's inputs (noise included), so the graph has no random op.
"""

import dataclasses
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import keras_vae
from keras_vae.core.contract import Part
from keras_vae.core.keras_internals import flatten_layers
from keras_vae.export.errors import ExportFailed
from keras_vae.runner import loading


@dataclasses.dataclass
class ExportedPart:
    """A model's declared `Part` made ready to export: a tf.function over named TensorSpecs.

    Args:
        declared: the model's `keras_vae.core.contract.Part`.
        model_name: "<entry>_<part>": the TF Serving model name and the artifact folder.
        function: a `tf.function` of the declared inputs, in order, with input_signature one named
            TensorSpec [None, *shape] per input; it returns {output name: float32 tensor}.
        metadata: plain JSON written into every artifact (see `make_part`).
    """

    declared: Part
    model_name: str  # "<entry>_<part>": the TF Serving model name and the artifact folder
    function: tf.types.experimental.PolymorphicFunction  # input_signature: one TensorSpec per input
    metadata: dict

    @property
    def name(self):
        """The part's name ("decoder", "encoder", "prior", ...), a str."""
        return self.declared.name

    @property
    def module(self):
        """The sub-model (or model, or tuple of layers) whose variables the artifact carries."""
        return self.declared.module

    @property
    def inputs(self):
        """{input name: (dtype name, shape with None for the free batch axis)}.

        e.g. {"z": ("float32", (None, 2))}; the interface an artifact must have.
        """
        return {i.name: (i.dtype, (None, *i.shape)) for i in self.declared.inputs}

    @property
    def outputs(self):
        """{output name: ("float32", shape with None for the free batch axis)}: every output is float32."""
        return {name: ("float32", (None, *shape)) for name, shape in self.declared.outputs.items()}

    def sample_inputs(self, rng, batch):
        """Fresh valid inputs: {name: array}, drawn as each input declares (latents, images, labels).

        Args:
            rng: a `numpy.random.Generator`.
            batch: the batch size, the leading axis.

        Returns:
            {input name: np.ndarray [batch, *shape] of the input's dtype}: N(0, 1) for latents and
            noise, uniform in [0, 1) for images, integers in [0, classes) for indices
            (`keras_vae.core.contract.TensorInput.draw`).
        """
        return {i.name: i.draw(rng, batch) for i in self.declared.inputs}

    def keras_outputs(self, inputs):
        """The Keras model's answer, run eagerly: the reference every artifact must match.

        Args:
            inputs: {input name: np.ndarray [batch, *shape]}, as `sample_inputs` gives.

        Returns:
            {output name: np.ndarray [batch, *shape]}, float32 for a model from `load_float32`.
        """
        outputs = self.declared.function(**{name: tf.constant(x) for name, x in inputs.items()})
        return {name: np.asarray(value) for name, value in outputs.items()}


def load_float32(run_dir):
    """The run's model with float32 compute, whatever policy it was trained under.

    Constructors build their layers under the global dtype policy and mixed-precision variables
    are float32 already, so loading under "float32" turns a mixed_float16 model into a float32
    one with the same weights: the exported graph has no float16 op or cast.

    Args:
        run_dir: a run folder, or a zoo entry name (its shipped run).

    Returns:
        the ZooModel with its trained stages (`keras_vae.runner.loading.load_run_model`), compiled;
        the global dtype policy is restored afterwards.

    Raises:
        UserError: not a run folder, no trained model, or a file that does not load.
        ExportFailed: a layer still computes in a dtype other than float32 or int32.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        model = loading.load_run_model(run_dir)
    finally:
        keras.config.set_dtype_policy(previous)
    half = [
        layer.name
        for layer in flatten_layers(model, include_self=False)
        if layer.compute_dtype not in ("float32", "int32")
    ]
    if half:
        raise ExportFailed(f"layers {half} do not compute in float32")
    return model


def make_part(declared, config, run_dir):
    """A model's declared `Part`, with its serving function and metadata.

    Args:
        declared: a `keras_vae.core.contract.Part` from `model.export_parts()`.
        config: the run's `keras_vae.runner.config.RunConfig` (entry, class_name, dataset are read).
        run_dir: the run folder; its name is the entry when the config names none.

    Returns:
        ExportedPart named "<entry>_<part>", with metadata {"entry", "class", "part", "inputs"
        (`TensorInput.describe()` each), "outputs" ({name: shape without the batch axis}),
        "dataset", "keras_vae_version"} and the part's own metadata (latent_dim, image_shape, ...).
    """
    entry = config.entry or Path(run_dir).resolve().name
    names = [i.name for i in declared.inputs]
    specs = [tf.TensorSpec([None, *i.shape], i.dtype, name=i.name) for i in declared.inputs]

    def serve(*tensors):
        return declared.function(**dict(zip(names, tensors)))

    metadata = {
        "entry": entry,
        "class": config.class_name,
        "part": declared.name,
        "inputs": [i.describe() for i in declared.inputs],
        "outputs": {k: list(v) for k, v in declared.outputs.items()},
        "dataset": config.dataset,
        "keras_vae_version": keras_vae.__version__,
        **declared.metadata,  # what the model says consumers need (latent_dim, image_shape, ...)
    }
    function = tf.function(serve, input_signature=specs, autograph=False)
    return ExportedPart(declared, f"{entry}_{declared.name}", function, metadata)
