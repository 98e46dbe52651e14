"""Disentanglement metrics of a representation on data with ground-truth factors (dSprites).

Five scores, each following google-research/disentanglement_lib (Locatello et al. 2019, "Challenging
Common Assumptions in the Unsupervised Learning of Disentangled Representations"): its definitions in
disentanglement_lib/evaluation/metrics/*.py and its default settings in
disentanglement_lib/config/unsupervised_study_v1/metric_configs/*.gin (`DEFAULTS`):

- BetaVAE score (Higgins et al. 2017; beta_vae.py): a logistic regression guesses which factor was
  held fixed between two batches from the mean absolute difference of their codes.
- FactorVAE score (Kim & Mnih 2018; factor_vae.py): a majority vote guesses the fixed factor from
  the code dimension of least variance, normalized, among the active ones.
- MIG (Chen et al. 2018; mig.py): the gap between the two largest mutual informations of a factor
  with a code dimension (codes in 20-bin histograms), over the factor's entropy.
- DCI (Eastwood & Williams 2018; dci.py): disentanglement, completeness and informativeness from
  gradient-boosted trees' feature importances (scikit-learn, whose version is recorded: the scores
  move with it, disentanglement_lib#33).
- SAP (Kumar et al. 2018; sap_score.py): the gap between the two best code dimensions at
  predicting a factor with a one-dimensional linear SVM.

As in disentanglement_lib, factor combinations are drawn uniformly from the whole factor grid (each
factor's index uniform over its values; our dSprites train/test split is not used) and drawn as
images (`Factors.images_of`), and every metric restarts its own random stream from `seed`. The
factors taken into account are those with more than one value: disentanglement_lib's dSprites
(`named_data.py`: `DSprites([1, 2, 3, 4, 5])`) leaves out color, which has one; a factor with a
single value is kept at it in every drawn combination.

Where we differ, on purpose: the trees and the logistic regression are seeded from `seed` (there
unseeded, or seeded from the shared stream); FactorVAE's `num_active_dims` counts the active
dimensions (there it is the length of the mask, always the code size); and a score that cannot be
computed (fewer than two code dimensions, one factor, no active dimension) is None with a reason,
never NaN, so metrics.json stays JSON.

The metric functions are NumPy and scikit-learn only; `of_model` alone touches a model.
"""

import copy
import logging
import math
import warnings

import numpy as np

from keras_vae.core.errors import UserError

log = logging.getLogger(__name__)

REFERENCE = "google-research/disentanglement_lib (Locatello et al. 2019), evaluation/metrics/*.py"
# disentanglement_lib/config/unsupervised_study_v1/metric_configs/{beta_vae_sklearn, factor_vae_metric,
# mig, dci, sap_score}.gin; `represent_batch` (images per call of the representation) is ours.
DEFAULTS = {
    "beta_vae": {"batch_size": 64, "num_train": 10000, "num_eval": 5000},
    "factor_vae": {
        "batch_size": 64,
        "num_train": 10000,
        "num_eval": 5000,
        "num_variance_estimate": 10000,
        "prune_threshold": 0.05,  # prune_dims.threshold: dimensions of standard deviation below are inactive
    },
    "mig": {"num_train": 10000, "num_bins": 20},
    "dci": {"num_train": 10000, "num_test": 5000},
    "sap": {"num_train": 10000, "num_test": 5000, "continuous_factors": False},
    "represent_batch": 512,
}
HEADLINES = {  # the number each metric is known by, None when it cannot be computed
    "beta_vae": "eval_accuracy",
    "factor_vae": "eval_accuracy",
    "mig": "mig",
    "dci": "disentanglement",
    "sap": "sap",
}


class NotComputable(Exception):
    """A metric is undefined on this representation or these factors (the message says why)."""


# -- the pieces every metric shares ----------------------------------------------------------------
def histogram_discretize(codes, num_bins=20):
    """Each code dimension cut into `num_bins` equal-width bins over its own range (utils.py's
    `_histogram_discretize`): int [n, d] bin numbers in 1..num_bins."""
    codes = np.asarray(codes, np.float64)
    out = np.empty(codes.shape, np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram(codes[:, j], num_bins)[1]
        out[:, j] = np.digitize(codes[:, j], edges[:-1])
    return out


def discrete_mutual_info(a, b):
    """I(a; b) in nats of two discrete samples a, b [n] (any hashable values), from their joint
    frequencies: the quantity utils.py's `discrete_mutual_info` takes from scikit-learn."""
    _, a = np.unique(np.asarray(a), return_inverse=True)
    _, b = np.unique(np.asarray(b), return_inverse=True)
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1.0)
    joint /= joint.sum()
    outer = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
    seen = joint > 0
    return float(max(0.0, np.sum(joint[seen] * np.log(joint[seen] / outer[seen]))))


def normalized_entropy(weights, axis):
    """1 - H(p) / log(K) along `axis`, p the weights (+1e-11, as dci.py) normalized there and K their
    number: 1 when one weight holds everything, 0 when they are equal."""
    p = np.asarray(weights, np.float64) + 1e-11
    p = p / p.sum(axis=axis, keepdims=True)
    size = p.shape[axis]
    return 1.0 - (-(p * np.log(p)).sum(axis=axis) / np.log(size))


# -- metrics on codes and factors (NumPy and scikit-learn) ----------------------------------------
def mig(codes, factors, num_bins=20):
    """Mutual information gap (Chen et al. 2018; disentanglement_lib mig.py).

    Args:
        codes: float [n, d], the representation of n examples.
        factors: int [n, K], their factor indices.
        num_bins: histogram bins per code dimension.

    Returns:
        {"mig": the mean over factors of (I_1 - I_2) / H(factor), I_1 >= I_2 the two largest mutual
        informations of the factor with one discretized code dimension; "mig_per_factor": [K];
        "mutual_info": [d][K] nats; "factor_entropy": [K] nats}.

    Raises:
        NotComputable: fewer than two code dimensions, or a factor constant in the sample.
    """
    codes, factors = np.asarray(codes), np.asarray(factors)
    if codes.shape[1] < 2:
        raise NotComputable("MIG needs at least two code dimensions")
    binned = histogram_discretize(codes, num_bins)
    info = np.array([[discrete_mutual_info(f, b) for f in factors.T] for b in binned.T])  # [d, K]
    entropy = np.array([discrete_mutual_info(f, f) for f in factors.T])
    if (entropy == 0).any():
        raise NotComputable(f"factor(s) {np.flatnonzero(entropy == 0).tolist()} take one value in the sample")
    top = np.sort(info, axis=0)[::-1]
    gaps = (top[0] - top[1]) / entropy
    return {
        "mig": float(gaps.mean()),
        "mig_per_factor": gaps.tolist(),
        "mutual_info": info.tolist(),
        "factor_entropy": entropy.tolist(),
    }


def dci_from_importance(importance):
    """Disentanglement and completeness of an importance matrix (Eastwood & Williams 2018; dci.py).

    Args:
        importance: float [d, K] >= 0, how much code dimension i serves to predict factor k.

    Returns:
        {"disentanglement": sum_i rho_i (1 - H_K(P_i.)), rho_i code i's share of all importance;
        "completeness": sum_k rho_k (1 - H_d(P_.k)), rho_k factor k's share; and the per-code
        and per-factor terms}.

    Raises:
        NotComputable: a single factor (disentanglement) or a single code dimension (completeness).
    """
    importance = np.asarray(importance, np.float64)
    codes, factors = importance.shape
    if factors < 2 or codes < 2:
        raise NotComputable("DCI needs at least two factors and two code dimensions")
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    per_code = normalized_entropy(importance, axis=1)
    per_factor = normalized_entropy(importance, axis=0)
    return {
        "disentanglement": float(np.sum(per_code * weights.sum(axis=1) / weights.sum())),
        "completeness": float(np.sum(per_factor * weights.sum(axis=0) / weights.sum())),
        "disentanglement_per_code": per_code.tolist(),
        "completeness_per_factor": per_factor.tolist(),
    }


def dci(train_codes, train_factors, test_codes, test_factors, seed=0):
    """DCI (Eastwood & Williams 2018; disentanglement_lib dci.py): one scikit-learn
    GradientBoostingClassifier (its defaults) per factor on the codes.

    Args:
        train_codes, test_codes: float [n_train, d], [n_test, d].
        train_factors, test_factors: int [n_train, K], [n_test, K].
        seed: the trees' random_state.

    Returns:
        `dci_from_importance` of the importance matrix, and "informativeness_train" and
        "informativeness_test" (the classifiers' accuracy averaged over factors), "importance" [d][K].
    """
    from sklearn.ensemble import GradientBoostingClassifier

    train_factors, test_factors = np.asarray(train_factors), np.asarray(test_factors)
    importance = np.zeros((np.shape(train_codes)[1], train_factors.shape[1]))
    train_accuracy, test_accuracy = [], []
    for k in range(train_factors.shape[1]):
        trees = GradientBoostingClassifier(random_state=seed).fit(train_codes, train_factors[:, k])
        importance[:, k] = np.abs(trees.feature_importances_)
        train_accuracy.append(np.mean(trees.predict(train_codes) == train_factors[:, k]))
        test_accuracy.append(np.mean(trees.predict(test_codes) == test_factors[:, k]))
    return {
        **dci_from_importance(importance),
        "informativeness_train": float(np.mean(train_accuracy)),
        "informativeness_test": float(np.mean(test_accuracy)),
        "importance": importance.tolist(),
    }


def sap_from_matrix(scores):
    """The mean over factors (columns) of the gap between the two largest scores of code dimensions
    (rows): sap_score.py's `compute_avg_diff_top_two`."""
    top = np.sort(np.asarray(scores, np.float64), axis=0)[::-1]
    return float(np.mean(top[0] - top[1]))


def sap(train_codes, train_factors, test_codes, test_factors, continuous_factors=False):
    """Separated attribute predictability (Kumar et al. 2018, Section 3; disentanglement_lib sap_score.py).

    Args:
        train_codes, test_codes: float [n_train, d], [n_test, d].
        train_factors, test_factors: int [n_train, K], [n_test, K].
        continuous_factors: False (the default): the score of code i for factor k is the test accuracy of
            a LinearSVC(C=0.01, class_weight="balanced") on code i alone; True: the squared correlation
            of code i with factor k on the train sample (0 for a constant code).

    Returns:
        {"sap": `sap_from_matrix` of the scores, "scores": [d][K]}.

    Raises:
        NotComputable: fewer than two code dimensions.
    """
    from sklearn.svm import LinearSVC

    train_codes, test_codes = np.asarray(train_codes, np.float64), np.asarray(test_codes, np.float64)
    train_factors, test_factors = np.asarray(train_factors), np.asarray(test_factors)
    if train_codes.shape[1] < 2:
        raise NotComputable("SAP needs at least two code dimensions")
    scores = np.zeros((train_codes.shape[1], train_factors.shape[1]))
    for i, code in enumerate(train_codes.T):
        for k, factor in enumerate(train_factors.T):
            if continuous_factors:
                covariance = np.cov(code, factor, ddof=1)
                if covariance[0, 0] > 1e-12:
                    scores[i, k] = covariance[0, 1] ** 2 / (covariance[0, 0] * covariance[1, 1])
            else:
                svm = LinearSVC(C=0.01, class_weight="balanced").fit(code[:, None], factor)
                scores[i, k] = np.mean(svm.predict(test_codes[:, i : i + 1]) == test_factors[:, k])
    return {"sap": sap_from_matrix(scores), "scores": scores.tolist()}


# -- metrics that intervene on the factors ----------------------------------------------------------
class GroundTruth:
    """Factor combinations drawn uniformly from the grid, and the codes of their images.

    Args:
        factors: a `keras_vae.data.factors.Factors` whose `images_of` draws any combination.
        represent: a function (float32 images [n, H, W, C] in [0, 1]) -> codes [n, d].
        represent_batch: images per call of `represent`.
    """

    def __init__(self, factors, represent, represent_batch=512):
        if factors.images_of is None:
            raise NotComputable("the dataset cannot draw images of chosen factor combinations (no images_of)")
        self.sizes = np.asarray(factors.sizes)
        self.varied = np.flatnonzero(self.sizes > 1)  # the factors the metrics see
        if len(self.varied) == 0:
            raise NotComputable("every factor takes a single value")
        self.names = [factors.names[f] for f in self.varied]
        self.excluded = [factors.names[f] for f in np.flatnonzero(self.sizes <= 1)]
        self.images_of = factors.images_of
        self.represent = represent
        self.represent_batch = int(represent_batch)

    def sample(self, n, rng):
        """int64 [n, F]: n combinations, each factor's index uniform over its values."""
        return np.stack([rng.integers(size, size=n) for size in self.sizes], axis=1).astype(np.int64)

    def codes_of(self, combinations):
        """float64 [n, d]: the representation of the images of `combinations` [n, F]."""
        out = []
        for start in range(0, len(combinations), self.represent_batch):
            images = np.asarray(self.images_of(combinations[start : start + self.represent_batch]))
            if images.dtype == np.uint8:
                images = images.astype(np.float32) / 255.0
            out.append(np.asarray(self.represent(images.astype(np.float32)), np.float64))
        codes = np.concatenate(out)
        if codes.ndim != 2 or len(codes) != len(combinations):
            raise UserError(f"the representation of {len(combinations)} images has shape {codes.shape}, not [n, d]")
        return codes

    def observed(self, n, rng):
        """(codes float64 [n, d], the varied factors' indices int64 [n, K]) of n drawn combinations."""
        combinations = self.sample(n, rng)
        return self.codes_of(combinations), combinations[:, self.varied]


def _in_groups(total, group):
    for start in range(0, total, group):
        yield min(group, total - start)


def beta_vae_points(truth, num_points, batch_size, rng, group=256):
    """BetaVAE score training points (beta_vae.py's `_generate_training_sample`): for each, a factor
    k is chosen, two batches of `batch_size` combinations share factor k's value pairwise, and the
    point is the mean over the batch of |code(x1) - code(x2)|.

    Returns:
        (points float64 [num_points, d], labels int64 [num_points]: k's place among the varied factors).
    """
    points, labels = [], []
    for n in _in_groups(num_points, group):
        held = rng.integers(len(truth.varied), size=n)
        first, second = truth.sample(n * batch_size, rng), truth.sample(n * batch_size, rng)
        rows, columns = np.arange(n * batch_size), truth.varied[np.repeat(held, batch_size)]
        second[rows, columns] = first[rows, columns]
        codes = truth.codes_of(np.concatenate([first, second]))
        difference = np.abs(codes[: n * batch_size] - codes[n * batch_size :])
        points.append(difference.reshape(n, batch_size, -1).mean(axis=1))
        labels.append(held)
    return np.concatenate(points), np.concatenate(labels)


def beta_vae_score(represent, factors, rng, batch_size=64, num_train=10000, num_eval=5000, represent_batch=512):
    """The BetaVAE score (Higgins et al. 2017; disentanglement_lib beta_vae.py, `beta_vae_sklearn`):
    the accuracy of a scikit-learn LogisticRegression (its defaults) at telling the fixed factor.

    Args:
        represent: a function (float32 images [n, H, W, C] in [0, 1]) -> codes [n, d].
        factors: a `Factors` that draws images (`images_of`).
        rng: a numpy Generator, the stream of every draw (and the regression's seed).
        batch_size, num_train, num_eval: pairs per point, training points, evaluation points.
        represent_batch: images per call of `represent`.

    Returns:
        {"train_accuracy", "eval_accuracy"}: chance is 1 / (number of varied factors).
    """
    from sklearn.linear_model import LogisticRegression

    truth = GroundTruth(factors, represent, represent_batch)
    train_points, train_labels = beta_vae_points(truth, num_train, batch_size, rng)
    model = LogisticRegression(random_state=int(rng.integers(2**31))).fit(train_points, train_labels)
    eval_points, eval_labels = beta_vae_points(truth, num_eval, batch_size, rng)
    return {
        "train_accuracy": float(np.mean(model.predict(train_points) == train_labels)),
        "eval_accuracy": float(np.mean(model.predict(eval_points) == eval_labels)),
    }


def factor_vae_votes(truth, num_points, batch_size, rng, scale, active, group=256):
    """FactorVAE score votes (factor_vae.py's `_generate_training_batch`): for each point, a factor k
    is held at one value over a batch of `batch_size` combinations, and the active code dimension of
    least variance over the batch (divided by its global variance `scale`) votes for k.

    Returns:
        int64 [K, d]: votes[k, j], how often dimension j was the least varying with k fixed.
    """
    votes = np.zeros((len(truth.varied), len(scale)), np.int64)
    candidates = np.flatnonzero(active)
    for n in _in_groups(num_points, group):
        held = rng.integers(len(truth.varied), size=n)
        combinations = truth.sample(n * batch_size, rng).reshape(n, batch_size, -1)
        columns = truth.varied[held]
        rows = np.arange(n)[:, None]
        combinations[rows, np.arange(batch_size), columns[:, None]] = combinations[rows, 0, columns[:, None]]
        codes = truth.codes_of(combinations.reshape(n * batch_size, -1)).reshape(n, batch_size, -1)
        local = codes.var(axis=1, ddof=1)[:, candidates] / scale[candidates]
        np.add.at(votes, (held, candidates[np.argmin(local, axis=1)]), 1)
    return votes


def factor_vae_score(
    represent,
    factors,
    rng,
    batch_size=64,
    num_train=10000,
    num_eval=5000,
    num_variance_estimate=10000,
    prune_threshold=0.05,
    represent_batch=512,
):
    """The FactorVAE score (Kim & Mnih 2018; disentanglement_lib factor_vae.py): the accuracy of the
    majority-vote classifier (each code dimension -> the factor it voted for most in training).

    Args:
        represent, factors, rng, represent_batch: as for `beta_vae_score`.
        batch_size, num_train, num_eval: combinations per vote, training votes, evaluation votes.
        num_variance_estimate: combinations drawn to estimate each dimension's global variance.
        prune_threshold: dimensions whose global standard deviation is below it are inactive
            (collapsed to the prior) and never vote.

    Returns:
        {"train_accuracy", "eval_accuracy", "num_active_dims"}: chance is 1 / (number of varied factors);
        with no active dimension both accuracies are 0, as in disentanglement_lib.
    """
    truth = GroundTruth(factors, represent, represent_batch)
    scale = truth.codes_of(truth.sample(num_variance_estimate, rng)).var(axis=0, ddof=1)
    active = np.sqrt(scale) >= prune_threshold
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}
    train_votes = factor_vae_votes(truth, num_train, batch_size, rng, scale, active)
    classifier = np.argmax(train_votes, axis=0)  # per code dimension, the factor it stands for
    eval_votes = factor_vae_votes(truth, num_eval, batch_size, rng, scale, active)
    dims = np.arange(len(scale))
    return {
        "train_accuracy": float(train_votes[classifier, dims].sum() / train_votes.sum()),
        "eval_accuracy": float(eval_votes[classifier, dims].sum() / eval_votes.sum()),
        "num_active_dims": int(active.sum()),
    }


# -- every metric at once ---------------------------------------------------------------------------
def merged_settings(settings):
    """`DEFAULTS` with `settings` ({metric: {name: value}}, "represent_batch") over them."""
    out = copy.deepcopy(DEFAULTS)
    for key, value in (settings or {}).items():
        if key not in out:
            raise UserError(f"unknown disentanglement setting {key!r}; known: {sorted(out)}")
        if isinstance(out[key], dict):
            unknown = set(value) - set(out[key])
            if unknown:
                raise UserError(f"unknown {key} setting(s) {sorted(unknown)}; known: {sorted(out[key])}")
            out[key].update(value)
        else:
            out[key] = value
    return out


def scaled_settings(points):
    """Settings with every metric's sample sizes scaled to `points` training points (the library's
    10,000): `num_train` and `num_variance_estimate` = points, `num_eval` and `num_test` = points // 2;
    batch sizes, bins and the prune threshold stay. What `evaluate --factor-samples N` passes.

    Raises:
        UserError: `points` below 10 (too few points for a classifier to score).
    """
    if isinstance(points, bool) or not isinstance(points, int) or points < 10:
        raise UserError(f"--factor-samples must be an integer of at least 10, got {points!r}")
    sizes = {"num_train": points, "num_variance_estimate": points, "num_eval": points // 2, "num_test": points // 2}
    return {
        name: {key: sizes[key] for key in metric if key in sizes}
        for name, metric in DEFAULTS.items()
        if isinstance(metric, dict)
    }


def json_safe(value):
    """`value` with every non-finite float replaced by None (and numpy numbers made Python ones)."""
    if isinstance(value, dict):
        return {key: json_safe(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.integer, bool)):
        return value if isinstance(value, bool) else int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _observational(truth, rng, num_train, num_test=0):
    train = truth.observed(num_train, rng)
    return (*train, *truth.observed(num_test, rng)) if num_test else train


def disentanglement_metrics(represent, factors, seed=0, settings=None):
    """Every metric of the module docstring on a representation of data with factors.

    Args:
        represent: a function (float32 images [n, H, W, C] in [0, 1]) -> codes [n, d] (e.g. the
            encoder mean).
        factors: a `keras_vae.data.factors.Factors` that draws images (`images_of`).
        seed: every metric restarts numpy's default_rng(seed).
        settings: overrides of `DEFAULTS`, e.g. {"mig": {"num_train": 500}}; None for the defaults.

    Returns:
        A JSON-safe dict: "reference", "seed", "scikit_learn" (the version), "factors" (the varied
        factors' names), "excluded_factors" (single-valued), and per metric ("beta_vae", "factor_vae",
        "mig", "dci", "sap") its scores and "settings"; a metric that cannot be computed has its headline
        score (`HEADLINES`) None and a "reason". Scikit-learn convergence warnings are counted
        ("convergence_warnings"), not shown.

    Raises:
        UserError: an unknown setting, or a representation of the wrong shape.
    """
    import sklearn
    from sklearn.exceptions import ConvergenceWarning

    settings = merged_settings(settings)
    batch = settings["represent_batch"]
    out = {"reference": REFERENCE, "seed": seed, "scikit_learn": sklearn.__version__}
    try:
        truth = GroundTruth(factors, represent, batch)
    except NotComputable as why:
        return {**out, **{name: {HEADLINES[name]: None, "reason": str(why)} for name in HEADLINES}}
    out.update(factors=truth.names, excluded_factors=truth.excluded, represent_batch=batch)
    metrics = {
        "beta_vae": lambda rng, s: beta_vae_score(represent, factors, rng, **s, represent_batch=batch),
        "factor_vae": lambda rng, s: factor_vae_score(represent, factors, rng, **s, represent_batch=batch),
        "mig": lambda rng, s: mig(*_observational(truth, rng, s["num_train"]), num_bins=s["num_bins"]),
        "dci": lambda rng, s: dci(*_observational(truth, rng, s["num_train"], s["num_test"]), seed=seed),
        "sap": lambda rng, s: sap(
            *_observational(truth, rng, s["num_train"], s["num_test"]), continuous_factors=s["continuous_factors"]
        ),
    }
    for name, run in metrics.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            try:
                scores = run(np.random.default_rng(seed), settings[name])
            except (NotComputable, ValueError) as why:  # ValueError: scikit-learn refused the sample
                scores = {HEADLINES[name]: None, "reason": str(why)}
        converge = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
        scores = json_safe(scores)
        if scores.get(HEADLINES[name]) is None and "reason" not in scores:
            scores["reason"] = "not a finite number"
        out[name] = {**scores, **({"convergence_warnings": converge} if converge else {}), "settings": settings[name]}
    return json_safe(out)


def of_model(model, data, seed=0, settings=None):
    """The disentanglement metrics of a trained model's code on `data`, for `evaluate`.

    Args:
        model: a ZooModel; its code is `model.code` (a VAE's posterior mean, an autoencoder's code).
        data: an `ImageData`; only data with factors (`data.factors`, dSprites) is measured.
        seed, settings: as for `disentanglement_metrics`.

    Returns:
        {"disentanglement": the metrics} or, when they do not apply, {} after logging one line
        saying why.
    """
    reason = skip_reason(model, data)
    if reason:
        log.info("skipping the disentanglement metrics: %s", reason)
        return {}
    count = images_needed(merged_settings(settings))
    log.info(
        "disentanglement metrics (%s) on %s: %d images through the encoder", ", ".join(HEADLINES), data.name, count
    )

    def represent(images):
        return np.asarray(model.code({"images": images}))

    return {"disentanglement": disentanglement_metrics(represent, data.factors, seed, settings)}


def images_needed(settings):
    """How many images the metrics at `settings` (as `merged_settings` gives) draw and represent:
    2,940,000 at the defaults, two thirds of them for the BetaVAE score."""
    beta, factor = settings["beta_vae"], settings["factor_vae"]
    return (
        2 * beta["batch_size"] * (beta["num_train"] + beta["num_eval"])
        + factor["num_variance_estimate"]
        + factor["batch_size"] * (factor["num_train"] + factor["num_eval"])
        + settings["mig"]["num_train"]
        + sum(settings[name]["num_train"] + settings[name]["num_test"] for name in ("dci", "sap"))
    )


def skip_reason(model, data):
    """Why the disentanglement metrics do not apply to `model` on `data`, or None when they do."""
    if data.factors is None:
        return f"{data.name} has no ground-truth factors (only dSprites-like data carries them)"
    if data.factors.images_of is None:
        return f"{data.name} cannot draw images of chosen factor combinations"
    if not model.has_code or model.condition_classes:
        return f"{type(model).__name__} has no unconditional latent code"
    shape = tuple(np.shape(data.factors.images_of(np.zeros((1, len(data.factors.names)), np.int64)))[1:])
    if shape != tuple(model.image_shape):
        return f"the factors draw {shape} images, the model takes {tuple(model.image_shape)}"
    return None
