"""Measuring instruments: the machine's matmul rate, epoch times, latencies, memory."""

import resource
import statistics
import time

import keras
import psutil
import tensorflow as tf

MATMUL_SIZE = 2048  # float32 [2048, 2048] @ [2048, 2048]: 17 GFLOP, large enough to be compute-bound


class MatmulRate:
    """GFLOP/s of one large float32 tf.matmul, the yardstick for the training FLOP rate."""

    def __init__(self, n=MATMUL_SIZE):
        self.flops = 2 * n**3
        self.a = tf.random.normal([n, n], seed=1)
        self.b = tf.random.normal([n, n], seed=2)
        self.matmul = tf.function(tf.matmul)
        self.matmul(self.a, self.b).numpy()  # trace and warm up

    def measure(self, repeats=3):
        def once():
            self.matmul(self.a, self.b).numpy()

        return self.flops / median_seconds(once, repeats) / 1e9


def median_seconds(fn, repeats, warmup=0):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def rss_mb():
    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


class EpochClock(keras.callbacks.Callback):
    """Seconds and resident memory of every epoch."""

    def __init__(self):
        super().__init__()
        self.seconds, self.rss = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._started)
        self.rss.append(rss_mb())
