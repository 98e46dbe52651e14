"""Speed of the importance-weighted evaluation (`keras_vae.core.iwae`, k = 1000, as `evaluate` runs
it) for an entry with `bound = "iwae"`: decodes/s, and its matmul and convolution FLOPs as a
fraction of the matmul rate measured in the same rounds (issue 17 asks 50%)."""

import tensorflow as tf

from keras_vae.bench.clock import MatmulRate, median_seconds
from keras_vae.bench.flops import graph_flops
from keras_vae.core import iwae

K = 1000
EXAMPLES = 32  # 32,000 decodes a timing


def measure_bound(model, data, rounds=3, k=K, max_decodes=iwae.MAX_DECODES):
    latent = model.latent_model()
    batch = {
        key: tf.constant(value) for key, value in data.examples("test", EXAMPLES).items() if key in model.batch_keys
    }
    evaluate = lambda: iwae.iwae(latent, batch, k, max_decodes=max_decodes).numpy()  # noqa: E731
    evaluate()  # trace
    seed = tf.constant([0, 0], tf.int32)
    flops = 0
    for start, stop, samples in iwae.passes(EXAMPLES, k, max_decodes):
        part = tf.nest.map_structure(lambda t: t[start:stop], batch)  # noqa: B023
        flops += graph_flops(latent.compiled_log_weights.get_concrete_function(part, samples, seed).graph)
    matmul = MatmulRate()
    seconds, rates = [], []
    for _ in range(rounds):
        seconds.append(median_seconds(evaluate, 1))
        rates.append(matmul.measure())
    best = min(seconds)
    return {
        "k": k,
        "examples": EXAMPLES,
        "decodes_per_second": EXAMPLES * k / best,
        "gflops": flops / best / 1e9,
        "matmul_gflops": max(rates),
        "matmul_fraction": flops / best / 1e9 / max(rates),
    }
