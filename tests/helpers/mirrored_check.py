"""Run by tests/test_distribute.py in a subprocess: two logical CPU devices must be configured
before TensorFlow initializes its devices, which the pytest process has long done.

Trains the same small VAE from the same weights with plain SGD (then the zoo's fused Adam), once
on the default strategy and once under `--strategy mirrored` on two replicas, and prints a JSON
report on stdout.
"""

import dataclasses
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["KERAS_VAE_OFFLINE"] = "1"

import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_vae.core.errors import UserError  # noqa: E402
from keras_vae.data import datasets as data
from keras_vae.runner import (
    builder,  # noqa: E402
    distribute,  # noqa: E402
)
from keras_vae.runner.config import resolve  # noqa: E402
from keras_vae.runner.optimizers import FusedAdam  # noqa: E402

LEARNING_RATE = 1e-3


def make_model(strategy, weights=None, zero_noise=True, optimizer=keras.optimizers.SGD):
    def make():
        model = builder.build("dense_vae", compile=False, dataset="mnist_5k", hidden_sizes=[32], latent_dim=4)
        model.compile(optimizer=optimizer(LEARNING_RATE))
        return model

    model = distribute.build(make, strategy)
    if weights is not None:
        model.set_weights(weights)
    if zero_noise:
        # Replicas draw different noise (checked below); zero noise makes the updates comparable.
        model.noise.normal = lambda shape, dtype="float32": tf.zeros(shape, dtype)
    return model


def max_difference(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


def max_replica_difference(model):
    """How far any replica's copy of a weight is from the first replica's."""
    copies = [[c.numpy() for c in w.value.values] for w in model.trainable_weights]
    return max(float(np.max(np.abs(c - cs[0]))) for cs in copies for c in cs)


def compare(single, replicated, dataset, initial):
    logs_single = single.fit(dataset, epochs=1, verbose=0, shuffle=False).history
    logs_mirrored = replicated.fit(dataset, epochs=1, verbose=0, shuffle=False).history
    return {
        "max_weight_difference": max_difference(single.get_weights(), replicated.get_weights()),
        "max_replica_difference": max_replica_difference(replicated),
        "max_update": max_difference(single.get_weights(), initial),
        "logs_single": {k: v[-1] for k, v in logs_single.items()},
        "logs_mirrored": {k: v[-1] for k, v in logs_mirrored.items()},
    }


def main():
    keras.utils.set_random_seed(0)
    images = data.mnist_5k().x_train[:21]
    mirrored = distribute.make_strategy("mirrored")
    single = make_model(tf.distribute.get_strategy())
    initial = single.get_weights()
    replicated = make_model(mirrored, initial)
    report = {"replicas": mirrored.num_replicas_in_sync, "fits": []}
    # One SGD step on a batch of 16, then an epoch of two steps whose last batch (5 images) is
    # split unevenly across the replicas (Keras needs an even first batch).
    for x in (images[:16], images):
        dataset = tf.data.Dataset.from_tensor_slices(x).batch(16)
        report["fits"].append(compare(single, replicated, dataset, initial))
        initial = single.get_weights()
    # The zoo's optimizer, whose fused kernel must update every replica's copy.
    single = make_model(tf.distribute.get_strategy(), initial, optimizer=FusedAdam)
    replicated = make_model(mirrored, initial, optimizer=FusedAdam)
    dataset = tf.data.Dataset.from_tensor_slices(images[:16]).batch(16)
    report["fits"].append(compare(single, replicated, dataset, initial))

    # Noise: distribute.build creates the generator in the scope, so each replica has its own stream.
    noisy = make_model(mirrored, zero_noise=False)
    draws = mirrored.run(tf.function(lambda: noisy.noise.normal([2, 3])))
    report["noise_per_replica"] = [t.numpy().tolist() for t in mirrored.experimental_local_results(draws)]
    try:
        distribute.strategy_for(dataclasses.replace(resolve("dense_vae"), strategy="mirrored", batch_size=15))
        report["uneven_batch_error"] = ""
    except UserError as error:
        report["uneven_batch_error"] = str(error)
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
