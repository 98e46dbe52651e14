"""Serving speed of the exported decoder: Keras `predict`, the SavedModel's `serving_default`
signature and onnxruntime, each on the same latents: images/s in batches, and batch-1 latency.

The artifacts come from `keras_vae.export.export_run` on a run folder written here, so what is
timed is what `python -m keras_vae.zoo export` ships.
"""

import numpy as np
import tensorflow as tf

from keras_vae import runs
from keras_vae.bench.clock import median_seconds

BATCH = 256
IMAGES = 4096


def export_decoder(model, config, workdir):
    from keras_vae.export import export_run

    run_dir = workdir / "run"
    run_dir.mkdir()
    runs.write_json(run_dir / runs.CONFIG, config)
    runs.save_model(model, run_dir / runs.MODEL, include_optimizer=False)
    return {a.format: a.folder for a in export_run(run_dir, formats="all", part="decoder", out=workdir / "export")}


def runners(model, folders):
    """name -> (run on a batch of latents, run on all latents in BATCH-sized batches)."""
    import onnxruntime

    signature = tf.saved_model.load(str(folders["savedmodel"])).signatures["serving_default"]
    session = onnxruntime.InferenceSession(str(folders["onnx"] / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx_input = session.get_inputs()[0].name

    def in_batches(run):
        return lambda z: [run(z[i : i + BATCH]) for i in range(0, len(z), BATCH)]

    def savedmodel(z):
        return signature(z=tf.constant(z))["images"].numpy()

    def onnx(z):
        return session.run(None, {onnx_input: z})[0]

    return {
        "keras_predict": (lambda z: model.decoder.predict(z, verbose=0),
                          lambda z: model.decoder.predict(z, batch_size=BATCH, verbose=0)),
        "savedmodel": (savedmodel, in_batches(savedmodel)),
        "onnx": (onnx, in_batches(onnx)),
    }


def measure_inference(model, config, workdir, repeats=50):
    folders = export_decoder(model, config, workdir)
    z = np.random.default_rng(0).standard_normal((IMAGES, model.latent_dim)).astype(np.float32)
    result = {}
    for name, (one_batch, all_batches) in runners(model, folders).items():
        result[name] = {
            "images_per_second": IMAGES / median_seconds(lambda: all_batches(z), 5, warmup=1),
            "batch1_ms": 1e3 * median_seconds(lambda: one_batch(z[:1]), repeats, warmup=5),
        }
    return result
