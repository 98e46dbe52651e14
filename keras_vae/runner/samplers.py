"""The sampler stage: densities fitted to a trained model's latent codes, in RUN_DIR/sampler/.

`train --resume RUN --stage sampler` encodes the run's training split (the posterior means,
`model.code`) and its validation split, and fits each sampler of `model.fitted_samplers` to them:

- `gmm`: a full-covariance Gaussian mixture, K chosen on the validation codes
  (`keras_vae.core.mixture`): sampler/gmm.npz (weights, means, covariances) and gmm.json;
- `flow`: a masked autoregressive flow, stopped early on the validation codes
  (`keras_vae.core.flow`): sampler/flow.npz (its weights) and flow.json (settings, epochs).

The .npz files hold NumPy arrays only (never pickles); the .json files say what was fitted, on
what, and its held-out log-likelihood (nats per code). Loading a run attaches them, so `sample
RUN --sampler gmm|flow` and `model.sample(n, seed=0, sampler="gmm")` draw from them. They are
not trained by Keras: they have no epochs of the run's, and fitting them again replaces them.
"""

import logging
import time
from pathlib import Path

import numpy as np

from keras_vae.core import flow, mixture
from keras_vae.core.errors import UserError
from keras_vae.runner import runs

log = logging.getLogger(__name__)

STAGE = "sampler"  # the stage name on the command line and the folder in the run
GMM, FLOW = "gmm", "flow"
MIXTURE_ARRAYS = ("weights", "means", "covariances")
SHIPPED_FILES = tuple(f"{name}.{suffix}" for name in (GMM, FLOW) for suffix in ("npz", "json"))
FITTED_ON = "posterior means E_q[z|x] of the training split"
REFIT = "fit it again with `train --resume RUN --stage sampler`"


def folder(run_dir):
    return Path(run_dir) / STAGE


def codes(model, data, split, config):
    """The posterior means [N, latent_dim] float64 of every example of `split` (the first
    `config.limit` of the split if the run is limited)."""
    from keras_vae.runner import fit

    found = [
        np.asarray(model.code(batch), np.float64)
        for batch in fit.batches(data, split, config, model.batch_keys, config.limit)
    ]
    return np.concatenate(found)


def fit_run(model, data, config, run_dir):
    """Fit every sampler of the model to the run's codes, write them to RUN_DIR/sampler/ and
    attach them.

    Args:
        model: the run's trained model (one with `fitted_samplers`).
        data: the run's ImageData: the codes of "train" are fitted, of "validation" choose K and
            stop the flow; without a validation split, K is chosen by BIC and the flow stops on
            the training codes.
        config: the run's RunConfig (its seed seeds the fits).
        run_dir: the run folder.

    Returns:
        {sampler name: the fitted sampler}.

    Raises:
        UserError: the model has no continuous latent code to fit, or its codes are not finite.
    """
    if not model.fitted_samplers:
        raise UserError(f"{type(model).__name__} has no continuous latent code to fit a sampler to")
    train = codes(model, data, "train", config)
    held_out = codes(model, data, "validation", config) if data.validation_fraction else None
    sizes = {"training_codes": len(train), "validation_codes": None if held_out is None else len(held_out)}
    folder(run_dir).mkdir(exist_ok=True)
    fitted = {}
    try:
        if GMM in model.fitted_samplers:
            fitted[GMM] = mixture.fit(train, held_out, seed=config.seed)
            write_mixture(fitted[GMM], run_dir, sizes)
            log.info("fitted a %d-component Gaussian mixture to %d codes", fitted[GMM].components, len(train))
        if FLOW in model.fitted_samplers:
            started = time.perf_counter()
            fitted[FLOW], history = flow.fit(train, held_out, seed=config.seed)
            write_flow(fitted[FLOW], history, run_dir, sizes, time.perf_counter() - started)
            log.info("fitted a masked autoregressive flow to %d codes in %d epochs", len(train), len(history))
    except ValueError as error:
        raise UserError(f"{run_dir}: cannot fit the sampler: {error}") from None
    for name, sampler in fitted.items():
        model.attach_sampler(name, sampler)
    return fitted


def write_arrays(path, arrays):
    """A .npz of NumPy arrays, written whole or not at all."""
    with runs.atomic(path) as tmp:
        np.savez(tmp, **arrays)


def write_mixture(fitted, run_dir, sizes):
    """sampler/gmm.npz and sampler/gmm.json."""
    write_arrays(folder(run_dir) / f"{GMM}.npz", {name: getattr(fitted, name) for name in MIXTURE_ARRAYS})
    chosen_by = "validation" if sizes["validation_codes"] is not None else "bic"
    runs.write_json(
        folder(run_dir) / f"{GMM}.json",
        {
            "sampler": GMM,
            "fitted_on": FITTED_ON,
            **sizes,
            "covariance": "full",
            "reg_covar": mixture.REG_COVAR,
            "components": fitted.components,
            "latent_dim": fitted.dimensions,
            "components_chosen_by": chosen_by,
            "held_out_log_likelihood": {str(k): round(v, 6) for k, v in fitted.selection.items()},
            "units": "mean log-likelihood per code, nats"
            + ("" if chosen_by == "validation" else " (-BIC / 2N on the training codes)"),
        },
    )


def write_flow(fitted, history, run_dir, sizes, seconds):
    """sampler/flow.npz (the weights, in `trainable_variables` order) and sampler/flow.json."""
    weights = fitted.weights()
    write_arrays(folder(run_dir) / f"{FLOW}.npz", {f"w{i}": w for i, w in enumerate(weights)})
    best = max(history, key=lambda epoch: epoch["held_out_log_likelihood"])
    settings = fitted.settings
    runs.write_json(
        folder(run_dir) / f"{FLOW}.json",
        {
            "sampler": FLOW,
            "fitted_on": FITTED_ON,
            **sizes,
            "settings": {**vars(settings), "hidden_units": list(settings.hidden_units)},
            "latent_dim": settings.dimensions,
            "epochs_run": len(history),
            "best_epoch": best["epoch"],
            "held_out_log_likelihood": round(best["held_out_log_likelihood"], 6),
            "stopped_on": "validation" if sizes["validation_codes"] is not None else "training codes",
            "units": "mean log-likelihood per code, nats",
            "seconds": round(seconds, 1),
            "history": [{key: round(value, 6) for key, value in epoch.items()} for epoch in history],
        },
    )


def arrays(path, names=None):
    """The arrays of a sampler's .npz ({name: float array}), or None if there is no file.

    Raises:
        UserError: a file that does not load, or lacks one of `names`.
    """
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {name: np.asarray(stored[name]) for name in (names or stored.files)}
    except (OSError, ValueError, KeyError) as error:
        raise UserError(f"{path} does not load ({error}): {REFIT}") from None


def read(run_dir):
    """The run's fitted Gaussian mixture, or None if it has none.

    Raises:
        UserError: a sampler file that does not load (corrupt, or arrays of the wrong shapes).
    """
    path = folder(run_dir) / f"{GMM}.npz"
    stored = arrays(path, MIXTURE_ARRAYS)
    if stored is None:
        return None
    weights, means, covariances = (stored[name].astype(np.float64) for name in MIXTURE_ARRAYS)
    k, d = means.shape if means.ndim == 2 else (None, None)
    if k is None or weights.shape != (k,) or covariances.shape != (k, d, d) or not np.isfinite(means).all():
        raise UserError(f"{path} holds no Gaussian mixture: {REFIT}")
    return mixture.GaussianMixture(weights, means, covariances)


def read_flow(run_dir):
    """The run's fitted flow, or None if it has none.

    Raises:
        UserError: a flow file that does not load, or whose weights do not fit its settings.
    """
    path = folder(run_dir) / f"{FLOW}.npz"
    stored = arrays(path)
    if stored is None:
        return None
    settings = runs.read_json(folder(run_dir) / f"{FLOW}.json")["settings"]
    fitted = flow.MaskedAutoregressiveFlow(
        flow.FlowSettings(**{**settings, "hidden_units": tuple(settings["hidden_units"])})
    )
    values = [stored[f"w{i}"] for i in range(len(stored))] if all(f"w{i}" in stored for i in range(len(stored))) else []
    shapes = [tuple(v.shape) for v in fitted.trainable_variables]
    if [v.shape for v in values] != shapes:
        raise UserError(f"{path}'s weights do not fit the flow of {FLOW}.json: {REFIT}")
    fitted.set_weights(values)
    return fitted


def attach_fitted(model, run_dir):
    """Attach the run's fitted samplers, if it has any, to `model`; returns the model.

    Raises:
        UserError: a sampler's dimensions differ from the model's latent code, or it does not load.
    """
    readers = {GMM: read, FLOW: read_flow}
    for name in model.fitted_samplers:
        fitted = readers[name](run_dir)
        if fitted is not None:
            try:
                model.attach_sampler(name, fitted)
            except ValueError as error:  # fitted to another model's codes
                raise UserError(f"{folder(run_dir)}: {error}: {REFIT}") from None
    return model


def ship(run_dir, target):
    """Copy the run's fitted samplers into `target` (a pretrained/ folder being staged),
    replacing the ones there."""
    import shutil

    (Path(target) / STAGE).mkdir(exist_ok=True)
    for name in SHIPPED_FILES:
        if (folder(run_dir) / name).is_file():
            shutil.copy2(folder(run_dir) / name, Path(target) / STAGE / name)


def card_line(run_dir):
    """The model card's lines on the shipped samplers (from their .json), or "" if there are none."""
    lines = []
    path = folder(run_dir) / f"{GMM}.json"
    if path.is_file():
        record = runs.read_json(path)
        tried = ", ".join(f"K = {k}: {v:.2f}" for k, v in record["held_out_log_likelihood"].items())
        lines.append(
            f"- **GMM sampler** (`pretrained/{STAGE}/gmm.*`, `sample --sampler gmm`): a "
            f"{record['components']}-component full-covariance Gaussian mixture fitted to the posterior means "
            f"of the {record['training_codes']:,} training examples, K chosen by {record['components_chosen_by']} "
            f"({record['units']}: {tried}).\n"
        )
    path = folder(run_dir) / f"{FLOW}.json"
    if path.is_file():
        record = runs.read_json(path)
        settings = record["settings"]
        lines.append(
            f"- **Flow sampler** (`pretrained/{STAGE}/flow.*`, `sample --sampler flow`): a masked autoregressive "
            f"flow of {settings['layers']} MADE blocks ({'-'.join(map(str, settings['hidden_units']))} hidden units) "
            f"fitted to the same means, Adam at {settings['learning_rate']}, batch {settings['batch_size']}; "
            f"best {record['stopped_on']} log-likelihood {record['held_out_log_likelihood']:.2f} nats per code at "
            f"epoch {record['best_epoch']} of {record['epochs_run']}; {record['seconds']:.0f} s.\n"
        )
    return "".join(lines)
