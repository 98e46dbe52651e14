"""The one place keras_vae uses private Keras and TensorFlow API, each use behind a function.

Every use is listed in `PRIVATE`, and `missing()` says which of them the installed Keras lacks
(tests/test_layers.py fails on it with that message), so a Keras upgrade that removes one is
caught by one clear test instead of a deep traceback in training or export.

- `flatten_layers`: every layer of a model, nested sub-models included (Keras has no public
  recursive walk); the noise generators and export's dtype check need it.
- `in_multi_worker_mode`: the same check Keras's own multi-worker log reduction makes.
- `adam_slots`: an Adam optimizer's first and second moment variables for one model variable,
  for the fused update of `keras_vae.runner.optimizers.FusedAdam`.
- `BuildWithoutBatch`: a zoo model builds its optimizer without a first batch under a strategy.
"""

import keras


def missing():
    """The private names this module uses that the installed Keras or TensorFlow lacks.

    Returns:
        list of "Owner.attribute" strings: [] when every one exists.
    """
    from tensorflow.python.distribute.collective_all_reduce_strategy import CollectiveAllReduceExtended

    model = keras.Sequential([keras.layers.Dense(1)])
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables if model.built else [keras.Variable([0.0])])
    needed = [
        (model, "Model", ("_flatten_layers", "_maybe_symbolic_build", "_symbolic_build", "_distribute_strategy")),
        (optimizer, "Adam", ("_get_variable_index", "_momentums", "_velocities")),
        (CollectiveAllReduceExtended, "CollectiveAllReduceExtended", ("_in_multi_worker_mode",)),
    ]
    return [f"{owner}.{name}" for instance, owner, names in needed for name in names if not hasattr(instance, name)]


def flatten_layers(layer, include_self=True):
    """Every layer inside `layer` (recursively), and `layer` itself with `include_self`.

    Args:
        layer: a `keras.layers.Layer` or `keras.Model`.
        include_self: whether the list starts with `layer`.

    Returns:
        list of layers.
    """
    return list(layer._flatten_layers(include_self=include_self))


def in_multi_worker_mode(strategy):
    """Whether a `tf.distribute.MultiWorkerMirroredStrategy` spans several workers (its
    `extended._in_multi_worker_mode()`, the check Keras 3.15 itself makes).

    Args:
        strategy: a `tf.distribute.MultiWorkerMirroredStrategy`.

    Returns:
        bool.
    """
    return strategy.extended._in_multi_worker_mode()


def adam_slots(optimizer, variable):
    """(m, v): the first and second moment variables that `keras.optimizers.Adam` keeps for
    `variable` (Keras variables; `.handle` is the resource for a raw TF op).

    Args:
        optimizer: a built `keras.optimizers.Adam`.
        variable: one of the model variables it was built for.

    Returns:
        (m, v): two Keras variables of `variable`'s shape.
    """
    index = optimizer._get_variable_index(variable)
    return optimizer._momentums[index], optimizer._velocities[index]


class BuildWithoutBatch:
    """Mixin for a `keras.Model` whose weights all exist once constructed.

    Keras 3.15 builds a model under a strategy from a first batch merged with
    `strategy.reduce`, which MultiWorkerMirroredStrategy refuses for a dict batch. Such a model
    compiles no loss or metric, so only the optimizer is left to build, and that needs no batch.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=())
