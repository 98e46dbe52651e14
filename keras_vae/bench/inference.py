"""Serving speed of the exported decoder: Keras `predict`, the SavedModel's `serving_default`
signature and onnxruntime, each on the same latents: images/s in batches, and batch-1 latency.

The artifacts come from `keras_vae.export.export_run` on a run folder written here, so what is
timed is what `python -m keras_vae.zoo export` ships.
"""

import numpy as np
import tensorflow as tf

from keras_vae.bench.clock import median_seconds
from keras_vae.runner import runs

BATCH = 256
IMAGES = 4096


def export_decoder(model, config, workdir):
    from keras_vae.export import export_run

    run_dir = workdir / "run"
    run_dir.mkdir()
    runs.write_config(run_dir, config)
    runs.save_model(model, run_dir / runs.MODEL, include_optimizer=False)
    return {a.format: a.folder for a in export_run(run_dir, formats="all", part="decoder", out=workdir / "export")}


def runners(model, folders):
    """name -> (run on a batch of inputs, run on all inputs in BATCH-sized batches); inputs are
    {name: array} as the decoder declares them (latents, and labels for a conditional one)."""
    import onnxruntime

    signature = tf.saved_model.load(str(folders["savedmodel"])).signatures["serving_default"]
    session = onnxruntime.InferenceSession(str(folders["onnx"] / "model.onnx"), providers=["CPUExecutionProvider"])

    def in_batches(run):
        return lambda inputs: [
            run({k: v[i : i + BATCH] for k, v in inputs.items()})
            for i in range(0, len(next(iter(inputs.values()))), BATCH)
        ]

    def savedmodel(inputs):
        return signature(**{k: tf.constant(v) for k, v in inputs.items()})["images"].numpy()

    def onnx(inputs):
        return session.run(None, inputs)[0]

    def keras_inputs(inputs):
        return list(inputs.values()) if len(inputs) > 1 else next(iter(inputs.values()))

    [decoder] = [part.module for part in model.export_parts() if part.name == "decoder"]
    return {
        "keras_predict": (
            lambda x: decoder.predict(keras_inputs(x), verbose=0),
            lambda x: decoder.predict(keras_inputs(x), batch_size=BATCH, verbose=0),
        ),
        "savedmodel": (savedmodel, in_batches(savedmodel)),
        "onnx": (onnx, in_batches(onnx)),
    }


def measure_inference(model, config, workdir, repeats=50):
    folders = export_decoder(model, config, workdir)
    [decoder] = [part for part in model.export_parts() if part.name == "decoder"]
    rng = np.random.default_rng(0)
    inputs = {i.name: i.draw(rng, IMAGES) for i in decoder.inputs}
    first = {k: v[:1] for k, v in inputs.items()}
    result = {}
    for name, (one_batch, all_batches) in runners(model, folders).items():
        result[name] = {
            "images_per_second": IMAGES / median_seconds(lambda run=all_batches: run(inputs), 5, warmup=1),
            "batch1_ms": 1e3 * median_seconds(lambda run=one_batch: run(first), repeats, warmup=5),
        }
    return result
