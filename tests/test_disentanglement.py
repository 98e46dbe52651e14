"""Disentanglement metrics (keras_vae.runner.disentanglement) on a small synthetic ground truth.

The ground truth: a constant factor (like dSprites' color) and four factors of 2, 3, 4 and 5
values, drawn as 8x8 images whose row f holds factor f's value. Bounds on a random representation
come from a seeded simulation of ten seeds at the sample sizes of `SMALL` (the largest values seen:
BetaVAE 0.30 and FactorVAE 0.275 accuracy, chance being 0.25; MIG 0.0053; DCI disentanglement
0.0055; SAP 0.0375); the tests allow a margin above them.
"""

import dataclasses
import json
import logging

import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import mutual_info_score
from sklearn.svm import LinearSVC

from keras_vae.data import datasets
from keras_vae.data.factors import Factors
from keras_vae.runner import disentanglement as dis

SIZES = (1, 2, 3, 4, 5)
GRIDS = tuple(np.linspace(0.0, 1.0, size) if size > 1 else np.ones(1) for size in SIZES)
NAMES = ("color", "a", "b", "c", "d")
VARIED = 4
SMALL = {
    "beta_vae": {"batch_size": 16, "num_train": 300, "num_eval": 200},
    "factor_vae": {"batch_size": 16, "num_train": 300, "num_eval": 200, "num_variance_estimate": 500},
    "mig": {"num_train": 1000},
    "dci": {"num_train": 600, "num_test": 300},
    "sap": {"num_train": 600, "num_test": 300},
}
CHANCE = 1 / VARIED
# Maximal mixing: every code dimension is +-1/2 of every factor (a rotation: determinant 1).
MIXING = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2


def images_of(indices):
    values = np.stack([GRIDS[f][indices[:, f]] for f in range(len(SIZES))], axis=1)
    images = np.zeros((len(indices), 8, 8, 1), np.uint8)
    images[:, : len(SIZES), :, 0] = np.round(values * 255).astype(np.uint8)[:, :, None]
    return images


def ground_truth(train=None, test=None):
    empty = np.zeros((0, len(SIZES)), np.int64)
    return Factors(NAMES, GRIDS, empty if train is None else train, empty if test is None else test, images_of)


def factor_values(images):
    """The identity representation: the four varied factors' values read back from the images."""
    return images[:, 1 : len(SIZES), 0, 0]


def random_representation(seed):
    noise = np.random.default_rng(seed)
    return lambda images: noise.normal(size=(len(images), VARIED))


def headlines(metrics):
    return {name: metrics[name][key] for name, key in dis.HEADLINES.items()}


@pytest.fixture(scope="module")
def identity():
    return dis.disentanglement_metrics(factor_values, ground_truth(), seed=0, settings=SMALL)


def test_a_representation_equal_to_the_factors_scores_near_1(identity):
    scores = headlines(identity)
    # measured: BetaVAE 1.0, FactorVAE 1.0, MIG 0.996, DCI disentanglement 1.0 (completeness 1.0)
    assert scores["beta_vae"] > 0.95 and scores["factor_vae"] > 0.95
    assert scores["mig"] > 0.95
    assert scores["dci"] > 0.95 and identity["dci"]["completeness"] > 0.95
    assert identity["dci"]["informativeness_test"] > 0.95
    assert identity["factor_vae"]["num_active_dims"] == VARIED
    assert identity["factors"] == list(NAMES[1:]) and identity["excluded_factors"] == ["color"]


def test_sap_of_the_factors_near_1_for_correlation_and_the_svm_gap_for_classes():
    """SAP with continuous_factors (squared correlations) is near 1 on the factors (measured 0.994).
    The default, a one-dimensional linear SVM per code, cannot tell apart more than two ordered
    classes and another code still guesses a binary factor half the time: on the factors it is
    about 0.30 (binary factor a: 1.0 against 0.5), well above a random representation's 0.04."""
    truth = dis.GroundTruth(ground_truth(), factor_values)
    rng = np.random.default_rng(0)
    train, test = truth.observed(600, rng), truth.observed(300, rng)
    continuous = dis.sap(*train, *test, continuous_factors=True)
    assert continuous["sap"] > 0.95
    discrete = dis.sap(*train, *test)
    assert discrete["scores"][0][0] == 1.0 and 0.2 < discrete["sap"] < 0.5


def test_a_random_representation_scores_near_chance():
    metrics = dis.disentanglement_metrics(random_representation(7), ground_truth(), seed=3, settings=SMALL)
    scores = headlines(metrics)
    assert scores["beta_vae"] < CHANCE + 0.15 and scores["factor_vae"] < CHANCE + 0.15
    assert scores["mig"] < 0.03 and scores["dci"] < 0.05 and scores["sap"] < 0.08
    assert metrics["dci"]["informativeness_test"] < 0.5  # chance: the mean of 1/2, 1/3, 1/4, 1/5 = 0.32


def test_a_rotated_copy_of_the_factors_loses_mig_but_stays_informative():
    metrics = dis.disentanglement_metrics(lambda x: factor_values(x) @ MIXING, ground_truth(), seed=0, settings=SMALL)
    # measured: MIG 0.013, DCI disentanglement 0.008, informativeness 1.0 (train and test)
    assert metrics["mig"]["mig"] < 0.1 and metrics["dci"]["disentanglement"] < 0.1
    assert metrics["dci"]["informativeness_test"] > 0.9


def test_the_metrics_are_json_safe_and_record_their_settings(identity):
    json.dumps(identity, allow_nan=False)
    import sklearn

    assert identity["scikit_learn"] == sklearn.__version__
    assert identity["mig"]["settings"] == {"num_train": 1000, "num_bins": 20}
    assert identity["dci"]["settings"] == {"num_train": 600, "num_test": 300}
    assert dis.merged_settings(None)["factor_vae"] == {
        "batch_size": 64,
        "num_train": 10000,
        "num_eval": 5000,
        "num_variance_estimate": 10000,
        "prune_threshold": 0.05,
    }
    assert dis.images_needed(dis.merged_settings(None)) == 2 * 64 * 15000 + 10000 + 64 * 15000 + 10000 + 2 * 15000
    with pytest.raises(dis.UserError, match="unknown mig setting"):
        dis.merged_settings({"mig": {"bins": 5}})


def test_a_metric_that_cannot_be_computed_is_none_with_a_reason():
    metrics = dis.disentanglement_metrics(lambda x: factor_values(x)[:, :1], ground_truth(), seed=0, settings=SMALL)
    json.dumps(metrics, allow_nan=False)
    for name in ("mig", "dci", "sap"):
        assert metrics[name][dis.HEADLINES[name]] is None and "two code dimensions" in metrics[name]["reason"]
    assert metrics["beta_vae"]["eval_accuracy"] is not None  # defined for one dimension
    readonly = dataclasses.replace(ground_truth(), images_of=None)
    metrics = dis.disentanglement_metrics(factor_values, readonly, settings=SMALL)
    assert all(
        metrics[name][key] is None and "images_of" in metrics[name]["reason"] for name, key in dis.HEADLINES.items()
    )


# -- each metric against an independent computation ---------------------------------------------------
@pytest.fixture(scope="module")
def fixed():
    """A fixed representation of 400 examples: 3 codes, partly informative of 2 factors."""
    rng = np.random.default_rng(11)
    factors = np.stack([rng.integers(3, size=400), rng.integers(4, size=400)], axis=1)
    codes = np.stack([factors[:, 0] + 0.7 * rng.normal(size=400), factors[:, 1] + 0.3 * rng.normal(size=400)], 1)
    codes = np.concatenate([codes, rng.normal(size=(400, 1))], axis=1)
    return codes, factors


def test_mig_agrees_with_scikit_learn_and_numpy(fixed):
    codes, factors = fixed
    result = dis.mig(codes, factors, num_bins=20)
    span = codes.max(axis=0) - codes.min(axis=0)
    binned = np.minimum(np.floor((codes - codes.min(axis=0)) / span * 20), 19).astype(int)  # 20 equal bins
    info = np.array([[mutual_info_score(f, b) for f in factors.T] for b in binned.T])
    np.testing.assert_allclose(result["mutual_info"], info, rtol=1e-9, atol=1e-12)
    entropy = []
    for f in factors.T:
        p = np.unique(f, return_counts=True)[1] / len(f)
        entropy.append(-(p * np.log(p)).sum())
    np.testing.assert_allclose(result["factor_entropy"], entropy, rtol=1e-9)
    top = np.sort(info, axis=0)
    assert result["mig"] == pytest.approx(np.mean((top[-1] - top[-2]) / entropy), rel=1e-9)


def test_dci_importance_entropies_agree_with_scipy(fixed):
    codes, factors = fixed
    result = dis.dci(codes[:300], factors[:300], codes[300:], factors[300:], seed=0)
    importance = np.array(result["importance"])
    assert importance.shape == (3, 2)
    np.testing.assert_allclose(importance.sum(axis=0), 1.0)  # each forest's importances sum to 1
    per_code = 1 - scipy.stats.entropy(importance.T + 1e-11, base=2)
    per_factor = 1 - scipy.stats.entropy(importance + 1e-11, base=3)
    share = importance.sum(axis=1) / importance.sum()
    assert result["disentanglement"] == pytest.approx(np.sum(per_code * share), rel=1e-9)
    assert result["completeness"] == pytest.approx(np.sum(per_factor * importance.sum(axis=0) / 2), rel=1e-9)
    # by hand: a code serving one factor only, a code split evenly, a code of no use
    hand = dis.dci_from_importance([[1.0, 0.0], [0.5, 0.5], [0.0, 0.0]])
    assert hand["disentanglement_per_code"][:2] == pytest.approx([1.0, 0.0], abs=1e-9)
    assert hand["disentanglement"] == pytest.approx(0.5 * 1 + 0.5 * 0, abs=1e-9)  # codes 0 and 1 hold half each


def test_sap_is_the_mean_top_two_gap(fixed):
    assert dis.sap_from_matrix([[0.9, 0.2], [0.5, 0.6], [0.1, 0.1]]) == pytest.approx((0.4 + 0.4) / 2)
    codes, factors = fixed
    result = dis.sap(codes[:300], factors[:300], codes[300:], factors[300:])
    first = LinearSVC(C=0.01, class_weight="balanced").fit(codes[:300, :1], factors[:300, 0])
    assert result["scores"][0][0] == pytest.approx(np.mean(first.predict(codes[300:, :1]) == factors[300:, 0]))
    correlation = dis.sap(codes, factors, codes, factors, continuous_factors=True)
    squared = np.array([[np.corrcoef(c, f)[0, 1] ** 2 for f in factors.T] for c in codes.T])
    np.testing.assert_allclose(correlation["scores"], squared, rtol=1e-9)
    top = np.sort(squared, axis=0)
    assert correlation["sap"] == pytest.approx(np.mean(top[-1] - top[-2]), rel=1e-9)


def test_the_scores_of_a_code_of_two_factors_match_a_hand_computation():
    """Codes of factors a and b only, exactly. FactorVAE: with a or b fixed its dimension votes for it;
    with c or d fixed the votes split between the two dimensions, which stand for a and b: the
    accuracy is P(a or b) = 1/2. BetaVAE: fixing a, b, or one of c and d gives three separable
    kinds of feature (c and d look alike): the accuracy is 1/4 + 1/4 + 1/4 = 3/4."""

    def two_factors(images):
        return factor_values(images)[:, :2]

    rng = np.random.default_rng(0)
    factor_vae = dis.factor_vae_score(two_factors, ground_truth(), rng, **SMALL["factor_vae"])
    assert factor_vae["num_active_dims"] == 2 and abs(factor_vae["eval_accuracy"] - 0.5) < 0.1
    beta_vae = dis.beta_vae_score(two_factors, ground_truth(), np.random.default_rng(0), **SMALL["beta_vae"])
    assert abs(beta_vae["eval_accuracy"] - 0.75) < 0.1


def test_factor_vae_prunes_dimensions_below_the_threshold():
    def with_quiet(images):  # a dimension of standard deviation ~0.01, below 0.05
        return np.concatenate([factor_values(images), 0.01 * factor_values(images)[:, :1]], axis=1)

    result = dis.factor_vae_score(with_quiet, ground_truth(), np.random.default_rng(0), **SMALL["factor_vae"])
    assert result["num_active_dims"] == VARIED and result["eval_accuracy"] > 0.95
    collapsed = dis.factor_vae_score(lambda x: np.zeros((len(x), 3)), ground_truth(), np.random.default_rng(0))
    assert collapsed == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}


# -- evaluate's use --------------------------------------------------------------------------------------
def test_evaluate_measures_a_models_code_on_data_with_factors_and_says_why_it_skips_others(caplog):
    from keras_vae.models import VAE

    rng = np.random.default_rng(0)
    train = np.stack([rng.integers(size, size=64) for size in SIZES], axis=1)
    plain = datasets.make("synthetic", images_of(train), images_of(train[:16]))
    with_factors = dataclasses.replace(plain, factors=ground_truth(train, train[:16]))
    vae = VAE(architecture="dense", image_shape=(8, 8, 1), latent_dim=3, hidden_sizes=[8], seed=0)

    tiny = {name: {key: max(8, value // 4) for key, value in SMALL[name].items()} for name in SMALL}
    metrics = dis.of_model(vae, with_factors, seed=0, settings=tiny)["disentanglement"]
    json.dumps(metrics, allow_nan=False)
    assert set(dis.HEADLINES) <= set(metrics) and metrics["factor_vae"]["settings"]["num_train"] == 75
    assert metrics["mig"]["mig"] is not None and 0 <= metrics["mig"]["mig"] <= 1

    with caplog.at_level(logging.INFO, logger=dis.__name__):
        assert dis.of_model(vae, plain) == {}
    (line,) = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert line == "skipping the disentanglement metrics: synthetic has no ground-truth factors " + (
        "(only dSprites-like data carries them)"
    )


def test_the_evaluate_table_shows_each_metrics_headline_score(identity):
    from keras_vae.cli.evaluate import format_metrics

    metrics = {
        "dataset": "synthetic",
        "split": "test",
        "split_examples": 16,
        "units": "nats",
        "likelihood": "bernoulli",
    }
    one_code = {"mig": {"mig": None, "reason": "MIG needs at least two code dimensions"}}
    table = format_metrics({**metrics, "binarization": "none", "disentanglement": {**identity, **one_code}})
    (line,) = [line for line in table.splitlines() if "disentanglement" in line]
    assert line.startswith("  disentanglement: beta_vae 1.000, factor_vae 1.000, mig n/a (MIG needs at least two")
    assert "dci 1.000, sap 0." in line


def test_factor_samples_scale_every_metrics_sizes_and_bad_values_are_one_line(cli, tmp_path):
    settings = dis.merged_settings(dis.scaled_settings(2000))
    assert dis.images_needed(settings) == 2 * 64 * 3000 + 2000 + 64 * 3000 + 2000 + 2 * 3000  # 586,000
    assert settings["factor_vae"]["num_variance_estimate"] == 2000 and settings["dci"]["num_test"] == 1000
    assert settings["mig"]["num_bins"] == 20 and settings["factor_vae"]["prune_threshold"] == 0.05
    with pytest.raises(dis.UserError, match="at least 10"):
        dis.scaled_settings(9)

    code, _, err = cli("evaluate", "conv_vae", "--factor-samples", "500", "--no-disentanglement")
    assert code != 0 and err.strip().splitlines()[-1].startswith("error: --factor-samples sizes the metrics")
    code, _, err = cli("evaluate", "conv_vae", "--factor-samples", "5")
    expected = "error: --factor-samples must be an integer of at least 10, got 5"
    assert code != 0 and err.strip().splitlines()[-1] == expected
