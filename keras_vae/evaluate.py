"""Evaluate a trained run on its test split."""

from keras_vae import data as datasets
from keras_vae import runs


def evaluate_run(run_dir, dataset=None, batch_size=None, limit=None):
    """Mean test metrics (loss, reconstruction, KL for VAEs) in nats per example."""
    config = runs.read_config(run_dir)
    model = runs.load_run_model(run_dir)
    data = datasets.load(dataset or config["dataset"])
    data.check_fits(model.image_shape)
    batches = data.batches("test", batch_size or config["batch_size"], limit=limit)
    metrics = model.evaluate(batches, return_dict=True, verbose=0)
    return {"dataset": data.name, **{k: float(v) for k, v in metrics.items()}}
