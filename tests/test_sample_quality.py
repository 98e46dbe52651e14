"""Sample-quality metrics (keras_vae/sample_quality.py) against closed forms and a brute-force NumPy
computation, on real digits through the judge's features, and `judge` writing them into metrics.json.

Image tests see mnist_5k through the judge's own feature layer (its CNN's Flatten, 1,600 values),
the classifier trained for 1 epoch instead of 12 (test accuracy 81%): the extractor the
command uses, at a tenth of its training."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import linalg, ndimage

from keras_vae import judge
from keras_vae import sample_quality as quality

TINY_RUN = Path(__file__).parent / "data" / "run_2a8fbc1_conv_vae"


# -- Fréchet distance ---------------------------------------------------------------------------
def test_frechet_distance_of_a_set_to_itself_is_zero(rng):
    features = rng.normal(size=(400, 20)) @ rng.normal(size=(20, 20))
    assert abs(quality.frechet_distance(features, features)) < 1e-6
    wide = rng.normal(size=(50, 120))  # more dimensions than examples: a singular covariance
    assert abs(quality.frechet_distance(wide, wide)) < 1e-6


def test_frechet_distance_equals_the_closed_form_for_diagonal_gaussians(rng):
    """sum((mu1 - mu2)^2) + sum(s1 + s2 - 2 sqrt(s1 s2)) for variances s1, s2."""
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = rng.uniform(0.1, 3, size=6), rng.uniform(0.1, 3, size=6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    got = quality.frechet_distance_from_moments(mu1, np.diag(s1), mu2, np.diag(s2))
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_frechet_distance_of_full_covariances_equals_scipy_sqrtm(rng):
    """The eigendecomposition equals Tr(sqrtm(C_a C_b)) of SciPy's general matrix square root."""
    a, b = rng.normal(size=(8, 8)), rng.normal(size=(8, 8))
    cov_a, cov_b = a @ a.T + 0.1 * np.eye(8), b @ b.T
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(cov_a + cov_b - 2 * np.real(linalg.sqrtm(cov_a @ cov_b)))
    np.testing.assert_allclose(quality.frechet_distance_from_moments(mu1, cov_a, mu2, cov_b), expected, rtol=1e-8)


def test_fewer_examples_than_dimensions_give_the_covariance_formulas_number(rng):
    """With N < D the trace term comes from the examples' cross-Gram matrix: the same number as
    SciPy's sqrtm of the (singular) covariances' product."""
    a = rng.normal(size=(40, 60)) @ rng.normal(size=(60, 60))
    b = rng.normal(size=(30, 60)) @ rng.normal(size=(60, 60)) + 1.0
    (mu1, cov_a), (mu2, cov_b) = quality.moments(a), quality.moments(b)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(cov_a + cov_b - 2 * np.real(linalg.sqrtm(cov_a @ cov_b)))
    np.testing.assert_allclose(quality.frechet_distance(a, b), expected, rtol=1e-6)
    np.testing.assert_allclose(quality.frechet_distance_from_moments(mu1, cov_a, mu2, cov_b), expected, rtol=1e-6)


def test_frechet_distance_of_samples_approaches_the_closed_form(rng):
    """Two Gaussians with known means and (diagonal) covariances, 200,000 draws each."""
    mu1, mu2 = np.array([0.0, 1.0, -1.0]), np.array([0.5, 1.0, 1.0])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([2.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))  # 4.25 + 1.17 = 5.42
    a = mu1 + np.sqrt(s1) * rng.normal(size=(200_000, 3))
    b = mu2 + np.sqrt(s2) * rng.normal(size=(200_000, 3))
    np.testing.assert_allclose(quality.frechet_distance(a, b), expected, rtol=0.01)


# -- precision, recall, density, coverage -------------------------------------------------------
def brute_force(real, fake, k_pr=3, k_dc=5):
    """The four numbers from full distance matrices, written out as the papers define them."""

    def distances(x, y):
        return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))

    def kth(x, k):
        return np.sort(distances(x, x), axis=1)[:, k]  # column 0: the point itself

    r_real, r_fake = kth(real, k_pr), kth(fake, k_pr)
    precision = np.mean([(distances(real, f[None])[:, 0] <= r_real).any() for f in fake])
    recall = np.mean([(distances(fake, x[None])[:, 0] <= r_fake).any() for x in real])
    inside = distances(real, fake) < kth(real, k_dc)[:, None]  # [N real balls, M fake points]
    return {
        "precision": precision,
        "recall": recall,
        "density": inside.sum() / (k_dc * len(fake)),
        "coverage": inside.any(axis=1).mean(),
    }


@pytest.mark.parametrize("working_memory", [quality.WORKING_MEMORY, 0.01], ids=["one-chunk", "many-chunks"])
def test_the_four_numbers_equal_a_brute_force_computation(rng, working_memory):
    real = rng.normal(size=(150, 4))
    fake = 0.8 * rng.normal(size=(120, 4)) + 0.5  # overlapping: every number strictly inside (0, 1)
    got = {
        **quality.precision_recall(real, fake, k=3, working_memory=working_memory),
        **quality.density_coverage(real, fake, k=5, working_memory=working_memory),
    }
    expected = brute_force(real, fake)
    assert all(0.2 < got[name] < 1 for name in ("precision", "recall", "coverage")), got
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-12, err_msg=name)


def test_a_set_against_itself_scores_one(rng):
    features = rng.normal(size=(300, 16))
    assert quality.precision_recall(features, features) == {"precision": 1.0, "recall": 1.0}
    assert quality.density_coverage(features, features) == {"density": 1.0, "coverage": 1.0}


def test_a_far_disjoint_cluster_scores_zero(rng):
    real = rng.normal(size=(300, 16))
    far = rng.normal(size=(300, 16)) + 10.0  # 40 standard deviations away
    assert quality.precision_recall(real, far) == {"precision": 0.0, "recall": 0.0}
    assert quality.density_coverage(real, far) == {"density": 0.0, "coverage": 0.0}


def test_half_real_half_far_has_precision_one_half(rng):
    """Samples that are half real points and half a far cluster: precision 1/2; the real half
    covers its own balls (coverage >= 1/2) and lies in (k - 1 + 1) of them each (density ~ 1/2)."""
    real = rng.normal(size=(300, 8))
    fake = np.concatenate([real[:150], rng.normal(size=(150, 8)) + 20.0])
    assert quality.precision_recall(real, fake)["precision"] == 0.5
    numbers = quality.density_coverage(real, fake)
    assert numbers["coverage"] >= 0.5
    assert 0.4 < numbers["density"] < 0.6


def test_k_must_leave_a_neighbour(rng):
    with pytest.raises(ValueError, match="k must be in 1..4"):
        quality.precision_recall(rng.normal(size=(5, 2)), rng.normal(size=(5, 2)), k=5)


# -- on real digits, through the judge's features ------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    """(data, feature function images -> features) of mnist_5k and a 1-epoch judge classifier."""
    from keras_vae.data import datasets

    data = datasets.load("mnist_5k")
    classifier, accuracy = judge.train_classifier(data, epochs=1)
    assert accuracy > 0.6  # 81% here after its one epoch
    extractor = judge.feature_extractor(classifier)
    return data, lambda images: judge.features_of(extractor, images)[0]


def test_the_feature_layer_is_the_classifiers_flatten(digits):
    data, features = digits
    assert features(data.x_test[:3]).shape == (3, 5 * 5 * 64)


def noisy(images, sigma, seed=0):
    return np.clip(images + sigma * np.random.default_rng(seed).normal(size=images.shape), 0, 1).astype(np.float32)


def blurred(images, sigma):
    return ndimage.gaussian_filter(images, sigma=(0, sigma, sigma, 0)).astype(np.float32)


def test_distance_grows_monotonically_with_noise_and_blur(digits):
    data, features = digits
    test = data.x_test
    real = features(test)
    by_noise = [quality.frechet_distance(real, features(noisy(test, s))) for s in (0.05, 0.1, 0.2, 0.4)]
    by_blur = [quality.frechet_distance(real, features(blurred(test, s))) for s in (0.5, 1.0, 1.5, 2.0)]
    assert np.all(np.diff(by_noise) > 0) and by_noise[0] > 0, by_noise
    assert np.all(np.diff(by_blur) > 0) and by_blur[0] > 0, by_blur


def test_the_training_split_is_close_to_the_test_split(digits):
    """Real against real (the 4,000 training digits against the 1,000 test digits: 1.0 here) is
    far closer than the test digits with noise of sigma 0.2 (7.0) or blurred with sigma 1 (15);
    the test split against itself is at 0 and scores 1 on the k-NN numbers. (The same test digits
    with noise of sigma 0.05 are at 0.4, closer than the training split: they are the same
    images, without the variation between two samples of the data.)"""
    data, features = digits
    real = features(data.x_test)
    train = features(data.x_train)
    to_train = quality.frechet_distance(real, train)
    to_noise = quality.frechet_distance(real, features(noisy(data.x_test, 0.2)))
    to_blur = quality.frechet_distance(real, features(blurred(data.x_test, 1.0)))
    assert abs(quality.frechet_distance(real, real)) < 1e-6
    assert to_train < min(to_noise, to_blur) / 3, (to_train, to_noise, to_blur)
    numbers = judge.quality_of(real, real)
    assert [numbers[n] for n in ("precision", "recall", "density", "coverage")] == [1.0, 1.0, 1.0, 1.0]


# -- the command --------------------------------------------------------------------------------
def test_judge_writes_sample_quality_into_metrics_json_keeping_other_keys(tmp_path, cli):
    run = tmp_path / "run"
    shutil.copytree(TINY_RUN, run)
    (run / "metrics.json").write_text(json.dumps({"dataset": "mnist_5k", "split_examples": 1000, "elbo": -1.5}))
    code, out, err = cli("judge", run, "--n", "10", "--n-quality", "300", "--classifier-epochs", "1", "--seed", "3")
    assert code == 0, err
    assert "frechet_distance" in out and "wrote" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["elbo"] == -1.5 and metrics["split_examples"] == 1000  # evaluate's numbers kept
    numbers = metrics["sample_quality"]
    settings = numbers["settings"]
    assert (settings["samples"], settings["seed"], settings["k_precision_recall"], settings["k_density_coverage"]) == (
        300,
        3,
        3,
        5,
    )
    assert settings["feature_layer"].startswith("features") and 0.6 < settings["classifier_test_accuracy"] <= 1
    assert numbers["neighbour_examples"] == 300
    assert numbers["frechet_distance"] > numbers["training_split"]["frechet_distance"] > 0
    for name in ("precision", "recall", "coverage", "confident"):
        assert 0 <= numbers[name] <= 1
    assert set(numbers["legend"]) >= {"frechet_distance", "precision", "recall", "density", "coverage"}


def test_evaluate_keeps_the_judges_numbers(tmp_path):
    """A metrics.json holding only the judge's numbers is no evaluation to protect; an evaluation
    written over one keeps its "sample_quality"."""
    from keras_vae.runner import evaluate

    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"sample_quality": {"precision": 0.5}}))
    evaluate.write_metrics(path, {"dataset": "mnist_5k", "elbo": -1.0})
    assert json.loads(path.read_text()) == {"dataset": "mnist_5k", "elbo": -1.0, "sample_quality": {"precision": 0.5}}
    evaluate.write_metrics(path, {"dataset": "mnist_5k", "elbo": -2.0}, overwrite=True)
    assert json.loads(path.read_text())["sample_quality"] == {"precision": 0.5}


def test_python_m_judge_checks_its_numbers(capsys):
    with pytest.raises(SystemExit) as exit:
        judge.main([str(TINY_RUN), "--n-quality", "-1"])
    assert exit.value.code == 2
    assert "--n-quality must be >= 0" in capsys.readouterr().err
