"""Training FLOPs per image, counted by TensorFlow's profiler on the traced train step.

Only matrix products and convolutions are counted (forward and backward: MatMul, Conv2D and its
two gradients): that is where the arithmetic is, and what the matmul rate is a yardstick for.
Elementwise work (activations, likelihood, Adam) is memory-bound and left out.
"""

import logging

import tensorflow as tf


def train_flops_per_image(model, batch_size):
    """FLOPs of one `model.train_step` on a batch of `batch_size` images, per image."""
    spec = tf.TensorSpec([batch_size, *model.image_shape], tf.float32)
    return graph_flops(tf.function(model.train_step).get_concrete_function(spec).graph) / batch_size


def graph_flops(graph):
    """The matrix-product and convolution FLOPs of a traced graph (its shapes fully known)."""
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = (
        builder(builder.float_operation())
        .with_accounted_types(["MatMul", "BatchMatMul.*", "Conv.*", "DepthwiseConv.*"])
        .with_empty_output()
        .build()
    )
    tf_log = logging.getLogger("tensorflow")
    level = tf_log.level
    tf_log.setLevel(logging.ERROR)  # the v1 profiler warns about its own deprecated helpers
    try:
        profile = tf.compat.v1.profiler.profile(graph=graph, options=options)
    finally:
        tf_log.setLevel(level)
    return profile.total_float_ops
