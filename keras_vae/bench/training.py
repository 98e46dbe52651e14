"""Training speed of one zoo entry on a dataset (`mnist_5k` by default), at its own settings
(batch size, precision, steps_per_execution), on one device.

A first fit of `epochs` epochs gives the steady-state images/s (median of epoch 3 onwards, so
tracing and warm-up are left out) and resident memory after epoch 2 and after the last. Then
each of `rounds` rounds times, in rotating order, an epoch fed by the real pipeline, one fed
from a single cached batch, one with XLA, and the matmul rate, so all four see the same load.

`measure_pipeline` iterates the training pipeline alone, with no model, for the issue "the
input pipeline is never what training waits for": its images/s sits next to training's.

`measure_optimizers` trains the entry twice from the same weights on the same batches, with
the zoo's FusedAdam and with `keras.optimizers.Adam`, in interleaved rounds, for the issue
"FusedAdam either shows its gain in the bench against keras.optimizers.Adam or goes".
"""

import dataclasses
import statistics
import time

import keras
import tensorflow as tf

from keras_vae.bench.clock import EpochClock, MatmulRate, peak_rss_mb
from keras_vae.bench.flops import train_flops_per_image
from keras_vae.bench.report import DATASET
from keras_vae.runner import builder, distribute, fit, train
from keras_vae.runner import config as run_config
from keras_vae.runner.optimizers import FusedAdam

# A timed round of the input pipeline alone lasts at least this long (whole passes).
PIPELINE_ROUND_SECONDS = 0.25
# The two optimizers `measure_optimizers` compares, by their key in the bench's JSON.
OPTIMIZERS = {"fused_adam": FusedAdam, "keras_adam": keras.optimizers.Adam}


def build(config, optimizer=FusedAdam):
    """The compiled model for resolved `config`, its weights drawn from config.seed.

    Args:
        config: a RunConfig with a seed.
        optimizer: the optimizer class it is compiled with (`builder.compile_model`).

    Returns:
        the `keras.Model`.
    """
    keras.utils.set_random_seed(config.seed)
    return distribute.build(
        lambda: builder.build_from_config(config, optimizer=optimizer),
        tf.distribute.get_strategy(),
        config.precision,
    )


def cached_like(dataset):
    """The first batch of `dataset`, held in memory and repeated in the same batch sizes."""
    sizes = [int(batch["images"].shape[0]) for batch in dataset]
    first = next(iter(dataset))
    full = sizes.count(sizes[0])
    cached = tf.data.Dataset.from_tensors(first).repeat(full)
    for size in sizes[full:]:
        cached = cached.concatenate(tf.data.Dataset.from_tensors({k: v[:size] for k, v in first.items()}))
    return cached


def epoch_seconds(model, feed):
    """Seconds of the second epoch of a two-epoch fit on `feed` (a fit.feed pair): the first
    carries the start of fit and of the iterator."""
    dataset, steps = feed
    clock = EpochClock()
    model.fit(dataset, steps_per_epoch=steps, epochs=2, verbose=0, callbacks=[clock], shuffle=False)
    return clock.seconds[1]


def prepare(entry, overrides=None, dataset=DATASET, limit=None):
    """What the bench and its op profile train: zoo entry `entry` with `overrides` on `dataset`.

    Args:
        entry: a zoo entry name.
        overrides: entry fields to override ({setting: value}, as `run_config.resolve`).
        dataset: the dataset name (`keras_vae.data.datasets.load`), DATASET by default.
        limit: the first N examples of each split, as `train --limit` (None: every example).

    Returns:
        (config, data, untrained model, its training pipeline, the feed of it): the config with
        seed 0 and `limit`, the pipeline `fit.fit` builds (shuffled, seed 0), and the
        (dataset, steps) pair fit gets for it.

    Raises:
        UserError: an unknown entry, setting or dataset, or a bad limit.
    """
    requested = run_config.resolve(entry, {**(overrides or {}), "dataset": dataset})
    requested = dataclasses.replace(requested, seed=0, limit=run_config.check_limit(limit))
    config, data = train.load_data(requested)
    model = build(config)
    pipeline = fit.batches(data, "train", config, model.batch_keys, config.limit, shuffle=True, seed=config.seed)
    feed = fit.feed(model, pipeline, automatic=config.steps_per_execution is None)  # as fit.fit feeds it
    return config, data, model, pipeline, feed


def split_size(data, config):
    """Examples in a pass of the training pipeline: the "train" split (validation held out),
    cut to config.limit."""
    return len(data.indices("train")[: config.limit])


def measure_pipeline(pipeline, rounds=8, least_seconds=PIPELINE_ROUND_SECONDS):
    """Images/s of `pipeline` alone, iterated with no model, as training reads it.

    One iterator runs over the pipeline repeated, as `fit.feed` repeats it; a first pass warms it
    up (the iterator's start, tracing, tf.data's autotuning), then each of `rounds` rounds times
    whole passes (the pipeline's cardinality in batches: exactly one shuffled pass each) until
    `least_seconds` have gone by, so a small split's pass of a few milliseconds is not all timer
    noise. Batches are taken in Python, a cost training (steps_per_execution steps per call)
    does not pay, so the rate is if anything low.

    Args:
        pipeline: a finite `tf.data.Dataset` of dict batches of known cardinality, e.g. `prepare`'s.
        rounds: timed rounds, >= 1.
        least_seconds: the shortest round; it ends at the first whole pass after this.

    Returns:
        dict: "images_per_second" (the median round's), "images_per_pass", "batches_per_pass",
        "passes" (per round) and "rates" (every round's images/s, in order).

    Raises:
        RuntimeError: a pass gave another number of images than the first.
    """
    batches = int(pipeline.cardinality())
    iterator = iter(pipeline.repeat())

    def one_pass():
        return sum(int(next(iter(next(iterator).values())).shape[0]) for _ in range(batches))

    images = one_pass()  # warm-up
    rates, passes = [], []
    for _ in range(rounds):
        started, done = time.perf_counter(), 0
        while not done or time.perf_counter() - started < least_seconds:
            counted = one_pass()
            if counted != images:  # every pass is the whole split
                raise RuntimeError(f"a pass of the pipeline gave {counted} images, the first {images}")
            done += 1
        rates.append(images * done / (time.perf_counter() - started))
        passes.append(done)
    return {
        "images_per_second": statistics.median(rates),
        "images_per_pass": images,
        "batches_per_pass": batches,
        "passes": passes,
        "rates": rates,
    }


def measure_training(entry, overrides=None, epochs=10, rounds=8, dataset=DATASET, limit=None):
    """Train zoo entry `entry` as the bench does and measure it.

    Args:
        entry: a zoo entry name.
        overrides: entry fields to override, as for `prepare`.
        epochs: epochs of the steady-state fit, >= 3 (its rate is the median of epoch 3 onwards).
        rounds: rounds of pipeline/cached/XLA/matmul and timed passes of the pipeline alone; 0:
            the steady-state fit alone (the peer comparison's).
        dataset: the dataset name, as for `prepare`.
        limit: the first N examples of each split, as for `prepare`.

    Returns:
        (trained model, its config, measurements: a dict for the bench's JSON, with "pipeline":
        `measure_pipeline`'s rate and "ratio_to_training", pipeline images/s over training's).
    """
    config, data, model, pipeline, feed = prepare(entry, overrides, dataset, limit)
    images = split_size(data, config)  # what an epoch trains on: the validation split is held out
    clock = EpochClock()
    model.fit(feed[0], steps_per_epoch=feed[1], epochs=epochs, verbose=0, callbacks=[clock], shuffle=False)
    flops = train_flops_per_image(model, config.batch_size)
    result = {
        "entry": entry,
        "dataset": dataset,
        "dataset_loaded": config.dataset,  # e.g. fashion_mnist offline: Debian's IDX files
        "limit": config.limit,
        "batch_size": config.batch_size,
        "precision": config.precision,
        "steps_per_execution": model.steps_per_execution,  # as `feed` left it for this epoch's steps
        "train_images": images,
        "epoch_seconds": clock.seconds,
        "images_per_second": images / statistics.median(clock.seconds[2:]),  # epoch 3 onwards
        "train_mflop_per_image": flops / 1e6,
        "rss_mb_epoch2": clock.rss[1],
        "rss_mb_last": clock.rss[-1],
        "peak_rss_mb": peak_rss_mb(),
    }
    if rounds:  # 0: the steady-state run alone (the peer comparison's)
        alone = measure_pipeline(pipeline, rounds)
        result["pipeline"] = {**alone, "ratio_to_training": alone["images_per_second"] / result["images_per_second"]}
        xla = build(dataclasses.replace(config, jit_compile=True))
        xla.steps_per_execution = model.steps_per_execution  # as `feed` set it: the same steps per epoch
        values = compare(model, xla, feed, cached_like(pipeline), rounds)
        result.update(
            ratios(values, flops * images / 1e9), xla_images_per_second=images / statistics.median(values["xla"])
        )
    return model, config, result


def measure_optimizers(entry, overrides=None, rounds=8, dataset=DATASET, limit=None):
    """Training images/s of zoo entry `entry` with FusedAdam and with `keras.optimizers.Adam`.

    Both models start from the same weights (the same seed) and train on the same feed at the
    entry's settings. After a warm-up fit of each, every round times one epoch of each (the
    second of a two-epoch fit, as `epoch_seconds`), alternating which goes first (A B, B A, ...),
    so the machine's other work falls on both alike.

    Args:
        entry: a zoo entry name.
        overrides: entry fields to override, as for `prepare`.
        rounds: timed epochs of each optimizer, >= 1.
        dataset: the dataset name, as for `prepare`.
        limit: the first N examples of each split, as for `prepare`.

    Returns:
        dict: "fused_adam" and "keras_adam", images/s from each one's median epoch; "gain",
        their ratio (> 1: FusedAdam faster); "gain_median", the median of the per-round ratios;
        "gain_best", the ratio of the fastest epochs (the least disturbed); "rounds"; and
        "epoch_seconds", each optimizer's timed epochs in order.
    """
    config, data, fused_model, _, feed = prepare(entry, overrides, dataset, limit)  # compiled with FusedAdam
    plain_model = build(config, OPTIMIZERS["keras_adam"])
    plain_model.steps_per_execution = fused_model.steps_per_execution  # as `feed` set it
    models = {"fused_adam": fused_model, "keras_adam": plain_model}
    for each in models.values():
        epoch_seconds(each, feed)  # trace and warm up
    order = list(models)
    seconds = {name: [] for name in models}
    for round_ in range(rounds):
        for name in order[round_ % 2 :] + order[: round_ % 2]:
            seconds[name].append(epoch_seconds(models[name], feed))
    images = split_size(data, config)
    rate = {name: images / statistics.median(values) for name, values in seconds.items()}
    fused, plain = seconds["fused_adam"], seconds["keras_adam"]
    return {
        **rate,
        "gain": rate["fused_adam"] / rate["keras_adam"],
        "gain_median": statistics.median(k / f for f, k in zip(fused, plain)),
        "gain_best": min(plain) / min(fused),
        "rounds": rounds,
        "epoch_seconds": seconds,
    }


def compare(model, xla, feed, cached, rounds):
    """Per round, in rotating order: epoch seconds fed by `feed`, by `cached`, with XLA, and the
    matmul rate."""
    matmul = MatmulRate()
    cached = fit.feed(model, cached)
    measures = {
        "pipeline": lambda: epoch_seconds(model, feed),
        "cached": lambda: epoch_seconds(model, cached),
        "xla": lambda: epoch_seconds(xla, feed),
        "matmul_gflops": matmul.measure,
    }
    measures["xla"]()  # compile
    order = list(measures)
    values = {name: [] for name in measures}
    for round_ in range(rounds):
        for name in order[round_ % len(order) :] + order[: round_ % len(order)]:
            values[name].append(measures[name]())
    return values


def ratios(values, gflop_per_epoch):
    """Other work on the machine only ever adds time, so each variant's fastest epoch is its
    least disturbed one: ratios of these are the stable estimates. Medians of the per-round
    ratios (kept too) show the typical effect under the current load."""
    best = {name: min(v) for name, v in values.items() if name != "matmul_gflops"}
    matmul = max(values["matmul_gflops"])
    per_round = list(zip(values["pipeline"], values["cached"], values["xla"], values["matmul_gflops"]))
    return {
        "gflops": gflop_per_epoch / best["pipeline"],
        "matmul_gflops": matmul,
        "matmul_fraction": gflop_per_epoch / best["pipeline"] / matmul,
        "matmul_fraction_median": statistics.median(gflop_per_epoch / p / m for p, _, _, m in per_round),
        "pipeline_overhead": best["pipeline"] / best["cached"] - 1,
        "pipeline_overhead_median": statistics.median(p / c - 1 for p, c, _, _ in per_round),
        "xla_speedup": best["pipeline"] / best["xla"],
        "xla_speedup_median": statistics.median(p / x for p, _, x, _ in per_round),
        "rounds": values,
    }
