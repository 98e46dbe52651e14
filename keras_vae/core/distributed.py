"""What a train step needs under tf.distribute: the global batch size and logs Keras can reduce.

Used inside `ZooModel.train_step` / `test_step`; the strategy itself is chosen by
`keras_vae.runner.distribute`.
"""

import tensorflow as tf

from keras_vae.core import keras_internals


def global_batch_size(per_example):
    """The size of the global batch, for `tf.nn.compute_average_loss`.

    None on one replica (its default is right). With several replicas its default, the local
    size times the replica count, is wrong when an uneven last batch is split unevenly, so the
    local sizes are all-reduced instead.

    Args:
        per_example: a per-example tensor [B] of this replica's batch (any dtype).

    Returns:
        None on one replica, else an int64 scalar tensor: the summed batch sizes of every replica.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    # float32: an int32 tensor on a GPU lives in host memory, where NCCL cannot reduce it.
    size = context.all_reduce("SUM", tf.cast(tf.shape(per_example)[0], tf.float32))
    return tf.cast(size, tf.int64)


def _logs_need_batch_axis(strategy):
    """Keras 3.15 reduces train/test-step logs under multi-worker MultiWorkerMirroredStrategy with
    `strategy.reduce("MEAN", value, axis=0)`, which fails on a scalar ("Invalid reduction
    dimension 0"). The same check as Keras's own (`_collective_all_reduce_multi_worker`)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and keras_internals.in_multi_worker_mode(
        strategy
    )


def record_means(trackers, terms):
    """Update each keras.metrics.Mean in `trackers` with `terms[tracker.name]`; the step's logs.

    Each replica updates its own trackers; Keras reads them at epoch end in cross-replica
    context, which sums the totals and counts of every replica (and worker), so epoch logs are
    the global means. Under multi-worker the step logs get a batch axis for Keras to reduce.

    Args:
        trackers: list of `keras.metrics.Mean`, each named after a term.
        terms: {name: per-example tensor [B]} holding at least every tracker's name.

    Returns:
        {tracker name: its running mean}, scalars (shape [1] under multi-worker).
    """
    for tracker in trackers:
        tracker.update_state(terms[tracker.name])
    logs = {tracker.name: tracker.result() for tracker in trackers}
    if _logs_need_batch_axis(tf.distribute.get_strategy()):
        logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
    return logs
