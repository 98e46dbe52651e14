"""A trained model from a run folder or a zoo entry: the model with its trained stages attached."""

from pathlib import Path

from keras_vae.runner import runs, samplers, stages


def load_run_model(run_dir):
    """The run's model (its final model, or the last checkpoint of an unfinished run), with every
    later stage it has trained attached (`keras_vae.runner.stages.attach_trained`), and its fitted
    sampler (`keras_vae.runner.samplers`).

    Args:
        run_dir: a run folder, or a zoo entry name (its shipped run).

    Returns:
        the ZooModel, compiled.

    Raises:
        UserError: not a run folder, no trained model, or a file that does not load.
    """
    run_dir = runs.check_run_dir(run_dir)
    model = stages.attach_trained(runs.load_model(runs.model_file(run_dir)), run_dir)
    return samplers.attach_fitted(model, run_dir)


def load(entry_or_run_dir, pretrained=True):
    """A zoo entry's shipped model (pretrained) or a fresh untrained one, or a run folder's model."""
    if pretrained or Path(entry_or_run_dir).is_dir():
        return load_run_model(entry_or_run_dir)
    from keras_vae.runner.builder import build  # a fresh model: the entry's config, TF's build

    return build(entry_or_run_dir)
