"""The VQ models' headline in `list`: the bound with the learned prior once it is trained, else
the reconstruction errors. TensorFlow-free."""

from keras_vae.models.headline import bounds, reconstruction


def parts(metrics):
    """`bounds` of a metrics.json dict with an "elbo" (a trained prior), else `reconstruction`."""
    return bounds(metrics) if "elbo" in metrics else reconstruction(metrics)
