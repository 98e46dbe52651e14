"""The sampler stage: a Gaussian mixture fitted to a trained model's latent codes, in RUN_DIR/sampler/.

`train --resume RUN --stage sampler` encodes the run's training split (the posterior means,
`model.code`), fits `keras_vae.core.mixture` to them with K chosen on the validation split, and
writes sampler/gmm.npz (weights, means, covariances: NumPy arrays, no pickle) and sampler/gmm.json
(what was fitted, on what, and the held-out log-likelihood of every K tried). Loading a run
attaches it, so `sample RUN --sampler gmm` and `model.sample(n, seed=0, sampler="gmm")` draw
from it. It is not trained by Keras: it has no epochs, and fitting it again replaces it.
"""

import logging
from pathlib import Path

import numpy as np

from keras_vae.core import mixture
from keras_vae.core.errors import UserError
from keras_vae.runner import runs

log = logging.getLogger(__name__)

STAGE = "sampler"  # the stage name on the command line and the folder in the run
GMM = "gmm"
PARAMETERS = ("weights", "means", "covariances")
SHIPPED_FILES = (f"{GMM}.npz", f"{GMM}.json")  # what a shipped zoo entry carries of its sampler


def folder(run_dir):
    return Path(run_dir) / STAGE


def codes(model, data, split, config):
    """The posterior means [N, latent_dim] float64 of every example of `split` (the first
    `config.limit` of the training split if it is limited)."""
    from keras_vae.runner import fit

    found = [
        np.asarray(model.code(batch), np.float64)
        for batch in fit.batches(data, split, config, model.batch_keys, config.limit)
    ]
    return np.concatenate(found)


def fit_run(model, data, config, run_dir):
    """Fit the run's Gaussian-mixture sampler, write it to RUN_DIR/sampler/ and attach it.

    Args:
        model: the run's trained model (one with `fitted_samplers`).
        data: the run's ImageData (its split: the codes of "train" are fitted, of "validation"
            choose K; without a validation split K is chosen by BIC on the training codes).
        config: the run's RunConfig.
        run_dir: the run folder.

    Returns:
        the fitted `keras_vae.core.mixture.GaussianMixture`.

    Raises:
        UserError: the model has no continuous latent code to fit, or its codes are not finite.
    """
    if GMM not in model.fitted_samplers:
        raise UserError(f"{type(model).__name__} has no continuous latent code to fit a sampler to")
    train = codes(model, data, "train", config)
    held_out = codes(model, data, "validation", config) if data.validation_fraction else None
    try:
        fitted = mixture.fit(train, held_out, seed=config.seed)
    except ValueError as error:
        raise UserError(f"{run_dir}: cannot fit the sampler: {error}") from None
    write(fitted, run_dir, train=len(train), held_out=None if held_out is None else len(held_out))
    log.info(
        "fitted a %d-component Gaussian mixture to the posterior means of %d training examples into %s",
        fitted.components,
        len(train),
        folder(run_dir),
    )
    model.attach_sampler(GMM, fitted)
    return fitted


def write(fitted, run_dir, train, held_out):
    """sampler/gmm.npz and sampler/gmm.json, each written whole or not at all."""
    where = folder(run_dir)
    where.mkdir(exist_ok=True)
    with runs.atomic(where / f"{GMM}.npz") as path:
        np.savez(path, **{name: getattr(fitted, name) for name in PARAMETERS})
    chosen_by = "validation" if held_out is not None else "bic"
    runs.write_json(
        where / f"{GMM}.json",
        {
            "sampler": GMM,
            "fitted_on": "posterior means E_q[z|x] of the training split",
            "training_codes": train,
            "validation_codes": held_out,
            "covariance": "full",
            "reg_covar": mixture.REG_COVAR,
            "components": fitted.components,
            "latent_dim": fitted.dimensions,
            "components_chosen_by": chosen_by,
            "held_out_log_likelihood": {str(k): round(v, 6) for k, v in fitted.selection.items()},
            "units": "mean log-likelihood per code, nats"
            + ("" if held_out is not None else " (-BIC / 2N on the training codes)"),
        },
    )


def read(run_dir):
    """The run's fitted Gaussian mixture, or None if it has none.

    Raises:
        UserError: a sampler file that does not load (corrupt, or arrays of the wrong shapes).
    """
    path = folder(run_dir) / f"{GMM}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as arrays:
            weights, means, covariances = (np.asarray(arrays[name], np.float64) for name in PARAMETERS)
    except (OSError, ValueError, KeyError) as error:
        raise UserError(
            f"{path} does not load ({error}): fit it again with `train --resume RUN --stage sampler`"
        ) from None
    k, d = means.shape if means.ndim == 2 else (None, None)
    if k is None or weights.shape != (k,) or covariances.shape != (k, d, d) or not np.isfinite(means).all():
        raise UserError(f"{path} holds no Gaussian mixture: fit it again with `train --resume RUN --stage sampler`")
    return mixture.GaussianMixture(weights, means, covariances)


def attach_fitted(model, run_dir):
    """Attach the run's fitted sampler, if it has one, to `model`; returns the model.

    Raises:
        UserError: the sampler's dimensions differ from the model's latent code, or it does not load.
    """
    fitted = read(run_dir) if model.fitted_samplers else None
    if fitted is not None:
        if fitted.dimensions != model.latent_dim:
            raise UserError(
                f"{folder(run_dir)}'s sampler has {fitted.dimensions} dimensions, the model's code "
                f"{model.latent_dim}: fit it again with `train --resume RUN --stage sampler`"
            )
        model.attach_sampler(GMM, fitted)
    return model


def ship(run_dir, target):
    """Copy the run's fitted sampler into `target` (a pretrained/ folder being staged), replacing
    the one there."""
    import shutil

    (Path(target) / STAGE).mkdir(exist_ok=True)
    for name in SHIPPED_FILES:
        shutil.copy2(folder(run_dir) / name, Path(target) / STAGE / name)


def card_line(run_dir):
    """The model card's line on the shipped sampler (from gmm.json), or "" if there is none."""
    path = folder(run_dir) / f"{GMM}.json"
    if not path.is_file():
        return ""
    record = runs.read_json(path)
    scores = record["held_out_log_likelihood"]
    tried = ", ".join(f"K = {k}: {v:.2f}" for k, v in scores.items())
    return (
        f"- **Sampler** (`pretrained/{STAGE}/`, `sample --sampler gmm`): a {record['components']}-component "
        f"full-covariance Gaussian mixture fitted to the posterior means of the {record['training_codes']:,} "
        f"training examples, K chosen by {record['components_chosen_by']} ({record['units']}: {tried}).\n"
    )
