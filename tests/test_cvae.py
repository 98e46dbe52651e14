"""`cvae`: the conditional ELBO against NumPy, labels in every path (sampling, the IWAE bound,
data, CLI, export), and the shipped model's samples judged by an independent classifier."""

import numpy as np
import pytest
import tensorflow as tf

from keras_vae import judge, zoo
from keras_vae.core.errors import UserError
from keras_vae.data import datasets
from keras_vae.models import CVAE

SHAPE, CLASSES = (2, 2, 1), 3


def softplus(t):
    return np.logaddexp(0.0, t)


def test_conditional_elbo_equals_a_numpy_computation(rng):
    """One linear layer each way: mean, log_var = W [x; onehot(y)] + b and
    logits = V [z; onehot(y)] + c, so the ELBO has a closed form given eps."""
    model = CVAE(image_shape=SHAPE, latent_dim=2, num_classes=CLASSES, hidden_sizes=[], seed=0)
    x = rng.uniform(size=(5, *SHAPE)).astype(np.float32)
    y = np.array([0, 1, 2, 1, 0], np.int32)
    eps = rng.normal(size=(5, 2)).astype(np.float32)
    terms = {k: v.numpy() for k, v in model.loss_terms({"images": x, "labels": y}, eps=eps).items()}

    weights = {w.path.split("/")[-2] + "/" + w.name: w.numpy() for w in model.weights}
    xy = np.concatenate([x.reshape(5, -1), np.eye(CLASSES)[y]], axis=1)
    mean = xy @ weights["z_mean/kernel"] + weights["z_mean/bias"]
    log_var = xy @ weights["z_log_var/kernel"] + weights["z_log_var/bias"]
    z = mean + np.exp(log_var / 2) * eps
    logits = np.concatenate([z, np.eye(CLASSES)[y]], axis=1) @ weights["pixels/kernel"] + weights["pixels/bias"]
    recon = (softplus(logits) - x.reshape(5, -1) * logits).sum(1)  # Bernoulli NLL of grey levels
    kl = 0.5 * (np.exp(log_var) + mean**2 - 1 - log_var).sum(1)
    np.testing.assert_allclose(terms["reconstruction"], recon, rtol=1e-5)
    np.testing.assert_allclose(terms["kl"], kl, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(terms["loss"], recon + kl, rtol=1e-5)


def test_the_label_reaches_both_networks_and_sampling():
    model = CVAE(image_shape=(8, 8, 1), latent_dim=2, num_classes=CLASSES, hidden_sizes=[8], seed=0)
    for w in model.weights:
        w.assign(tf.random.stateless_normal(w.shape, seed=[1, len(w.path)]))
    x = np.full((3, 8, 8, 1), 0.5, np.float32)
    means = [model.code({"images": x, "labels": np.full(3, c, np.int32)}).numpy() for c in range(CLASSES)]
    assert not np.allclose(means[0], means[1])
    z = tf.random.stateless_normal((4, 2), seed=[7, 0])
    np.testing.assert_array_equal(model.sample(4, seed=7, labels=2), model.decode(z, labels=tf.fill([4], 2)))
    assert not np.allclose(model.sample(4, seed=7, labels=0), model.sample(4, seed=7, labels=1))
    # Without labels, sampling cycles through the classes.
    np.testing.assert_array_equal(model.sample(4, seed=7), model.decode(z, labels=tf.constant([0, 1, 2, 0])))
    with pytest.raises(
        UserError, match=r"labels must be an integer in \[0, 2\], or 2 of them \(one per sample\), got 3"
    ):
        model.sample(2, labels=3)
    with pytest.raises(UserError, match=r"labels must be an integer in \[0, 2\], or 2 of them"):
        model.sample(2, labels=[0, 1, 2])


def test_the_iwae_likelihood_pairs_each_sample_with_its_own_label(rng):
    model = CVAE(image_shape=(4, 4, 1), latent_dim=3, num_classes=CLASSES, hidden_sizes=[8])
    batch = {
        "images": (rng.uniform(size=(5, 4, 4, 1)) > 0.5).astype(np.float32),
        "labels": np.array([0, 2, 1, 1, 0], np.int32),
    }
    z = rng.normal(size=(2, 5, 3)).astype(np.float32)
    got = model.latent_model().log_likelihood(batch, z).numpy()
    expected = [
        [
            -model.reconstruction_nll(
                batch["images"][b : b + 1], model.decoder([z[s, b : b + 1], batch["labels"][b : b + 1]])
            )[0]
            for b in range(5)
        ]
        for s in range(2)
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_a_dataset_without_labels_is_refused_in_one_line(cli, tmp_path):
    from PIL import Image

    folder = tmp_path / "flat"
    folder.mkdir()
    for i in range(12):
        Image.fromarray(np.full((28, 28), i * 20, np.uint8)).save(folder / f"{i:02d}.png")
    code, _, err = cli("train", "cvae", "--set", f"dataset=folder:{folder}", "--epochs", "1", "--out", tmp_path / "run")
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: dataset folder:{folder} has no labels, and CVAE is conditioned on them"
    ]
    assert not (tmp_path / "run").exists()


def test_sample_takes_a_label_and_refuses_bad_ones(cli, tmp_path):
    code, out, err = cli("sample", "cvae", "--label", "3", "--n", "8", "--out", tmp_path)
    assert code == 0, err
    assert (tmp_path / "samples_label3_seed0_n8.png").is_file()  # one file per label: no clash with plain samples
    code, _, err = cli("sample", "cvae", "--label", "10", "--out", tmp_path / "b")
    assert code == 2 and "error: labels must be an integer in [0, 9], or 64 of them (one per sample), got 10" in err
    code, _, err = cli("sample", "conv_vae", "--label", "3", "--out", tmp_path / "c")
    assert code == 2 and "error: VAE is unconditional: it cannot be given labels" in err


def test_the_decoder_exports_with_an_integer_label_input(tmp_path):
    from keras_vae.export import export_run

    # ONNX parity with the int32 input is every entry's contract test (tests/helpers/model_check.py).
    artifacts = export_run("cvae", formats="savedmodel", part="decoder", out=tmp_path)
    assert [a.format for a in artifacts] == ["savedmodel"]
    signature = tf.saved_model.load(str(tmp_path / "cvae_decoder" / "1")).signatures["serving_default"]
    inputs = signature.structured_input_signature[1]
    assert inputs["labels"].dtype == tf.int32 and inputs["z"].dtype == tf.float32
    assert all(max(a.errors.values()) <= 1e-5 for a in artifacts)


@pytest.mark.slow
def test_shipped_samples_are_the_requested_digits(mnist_5k):
    """An independently trained CNN labels >= 90% of 100 samples of every class as that class."""
    classifier, accuracy = judge.train_classifier(mnist_5k)
    assert accuracy > 0.95  # the judge itself is good
    result = judge.judge(zoo.load("cvae"), classifier, n=100, seed=0)
    assert min(result["per_class"].values()) >= 0.9, judge.table(result)


def test_num_classes_comes_from_the_data():
    assert datasets.mnist_5k().num_classes == 10
    assert zoo.build("cvae", compile=False).num_classes == 10
