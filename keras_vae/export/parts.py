"""What gets exported: the run's model in float32 and one serving function per part.

The serving function is the single source of truth: the SavedModel and the ONNX graph are both
traced from it, and verification runs the same function eagerly on the Keras model as the
reference. It takes only the caller's input (noise included), so the graph has no random op.
"""

import dataclasses
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import keras_vae
from keras_vae import runs
from keras_vae.export import ExportFailed

PARTS = ("decoder", "encoder")
VAE_OUTPUTS = ("z_mean", "z_log_var")
AE_OUTPUTS = ("code",)


@dataclasses.dataclass
class Part:
    name: str  # "decoder" or "encoder"
    model_name: str  # "<entry>_<part>": the TF Serving model name and the artifact folder
    module: keras.Model  # the sub-model whose variables the artifact carries
    function: tf.types.experimental.PolymorphicFunction  # input_signature: one named TensorSpec
    outputs: dict  # output name -> shape without the batch axis
    metadata: dict

    @property
    def spec(self):
        return self.function.input_signature[0]

    @property
    def input_shape(self):
        return tuple(self.spec.shape[1:])

    def sample_input(self, rng, batch):
        """Fresh inputs: N(0, I) latents for a decoder, images in [0, 1] for an encoder."""
        shape = (batch, *self.input_shape)
        x = rng.standard_normal(shape) if self.name == "decoder" else rng.uniform(size=shape)
        return x.astype(np.float32)

    def keras_outputs(self, x):
        """The Keras model's answer, run eagerly: the reference every artifact must match."""
        outputs = self.function.python_function(tf.constant(x))
        return {name: np.asarray(value) for name, value in outputs.items()}


def load_float32(run_dir):
    """The run's model with float32 compute, whatever policy it was trained under.

    Constructors build their layers under the global dtype policy and mixed-precision variables
    are float32 already, so loading under "float32" turns a mixed_float16 model into a float32
    one with the same weights: the exported graph has no float16 op or cast.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        model = runs.load_run_model(run_dir)
    finally:
        keras.config.set_dtype_policy(previous)
    for module in (model.encoder, model.decoder):
        half = [layer.name for layer in module.layers if layer.compute_dtype != "float32"]
        if half:
            raise ExportFailed(f"{module.name} layers {half} do not compute in float32")
    return model


def make_part(model, config, run_dir, name):
    entry = config.get("entry") or Path(run_dir).resolve().name
    if name == "decoder":
        spec = tf.TensorSpec([None, model.latent_dim], tf.float32, name="z")

        def serve(z):
            return {"images": model.decode(z)}

        module, outputs = model.decoder, {"images": model.image_shape}
    else:
        spec = tf.TensorSpec([None, *model.image_shape], tf.float32, name="images")
        names = VAE_OUTPUTS if len(model.encoder.outputs) == 2 else AE_OUTPUTS

        def serve(images):
            codes = model.encode(images)
            return dict(zip(names, codes if isinstance(codes, (list, tuple)) else [codes]))

        module, outputs = model.encoder, {n: (model.latent_dim,) for n in names}
    metadata = {
        "entry": entry,
        "class": config["class"],
        "part": name,
        "latent_dim": model.latent_dim,
        "image_shape": list(model.image_shape),
        "dataset": config.get("dataset"),
        "keras_vae_version": keras_vae.__version__,
    }
    function = tf.function(serve, input_signature=[spec], autograph=False)
    return Part(name, f"{entry}_{name}", module, function, outputs, metadata)
