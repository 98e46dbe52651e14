"""`moving:<image dataset>`: sequences of one real image moving one pixel a frame, left or right."""

import numpy as np
import pytest

from keras_vae.core.errors import UserError
from keras_vae.data import datasets as data
from keras_vae.data import sequences


@pytest.fixture(scope="module")
def moving(mnist_5k):
    return sequences.moving(mnist_5k)


def test_each_frame_is_the_last_rolled_one_pixel_in_the_sequences_direction(moving, mnist_5k):
    frames = moving.examples("test", 40)["frames"]
    assert frames.shape == (40, sequences.FRAMES, 28, 28, 1) and frames.dtype == np.float32
    directions = moving.directions["test"][:40]
    assert set(directions) == {-1, 1}  # both directions occur
    for sequence, direction, image in zip(frames, directions, mnist_5k.x_test[:40], strict=True):
        assert any(np.array_equal(sequence[0], np.roll(image, s, axis=1)) for s in range(28))  # the real image
        for t in range(1, len(sequence)):
            np.testing.assert_array_equal(sequence[t], np.roll(sequence[t - 1], direction, axis=1))
    # The tf.data pipeline rolls the same frames on the fly.
    batch = next(iter(moving.batches("test", 40, keys=("frames",))))
    assert set(batch) == {"frames"}
    np.testing.assert_array_equal(batch["frames"].numpy(), frames)


def test_no_test_image_appears_in_a_training_sequence(moving, mnist_5k):
    def rolls(images):  # every horizontal roll of every image, as bytes
        return {np.roll(image, s, axis=1).tobytes() for image in images for s in range(images.shape[2])}

    # Each training sequence's frames are rolls of its first frame, which the same seed makes
    # alike for any sequence length.
    first = sequences.moving(mnist_5k, frames=2).examples("train")["frames"][:, 0]
    np.testing.assert_array_equal(first[:16], moving.examples("train", 16)["frames"][:, 0])
    seen = rolls(first)
    assert not any(image.tobytes() in seen for image in mnist_5k.x_test)
    assert mnist_5k.x_train[7].tobytes() in seen  # the check would see a training image


def test_the_validation_split_holds_out_training_sequences_unchanged(moving):
    """The validation split (issue 18) takes whole training sequences, each as it was, and keeps
    the test sequences as they are."""
    split = moving.with_validation(0.1, seed=3)
    kept, held = split.images.split_indices["train"], split.images.split_indices["validation"]
    assert len(held) == 400 and len(kept) == 3600 and not set(kept) & set(held)
    whole = moving.examples("train")["frames"]
    np.testing.assert_array_equal(split.examples("validation")["frames"], whole[held])
    np.testing.assert_array_equal(split.examples("train", 50)["frames"], whole[kept[:50]])
    np.testing.assert_array_equal(split.examples("test", 50)["frames"], moving.examples("test", 50)["frames"])


def test_sequences_are_deterministic_for_a_seed_and_load_by_name(moving, mnist_5k, monkeypatch):
    monkeypatch.setattr(data, "mnist_5k", lambda: mnist_5k)  # loaded once per session
    again = sequences.moving(mnist_5k)
    np.testing.assert_array_equal(again.examples("train", 8)["frames"], moving.examples("train", 8)["frames"])
    other = sequences.moving(mnist_5k, seed=1)
    assert not np.array_equal(other.directions["train"], moving.directions["train"])
    loaded = data.load("moving:mnist_5k")
    assert loaded.name == "moving:mnist_5k" and loaded.keys == ("frames",)
    np.testing.assert_array_equal(loaded.examples("test", 3)["frames"], moving.examples("test", 3)["frames"])
    assert data.known_model_params("moving:mnist_5k") == {"image_shape": [28, 28, 1], "num_classes": None}


@pytest.mark.parametrize(
    "name, message",
    [
        ("moving:", "names no image dataset"),
        ("moving:moving:mnist_5k", "must be an image dataset"),
        ("moving:nope", "unknown dataset 'nope'"),
    ],
)
def test_bad_sequence_dataset_names_are_one_error(name, message):
    with pytest.raises(UserError, match=message):
        data.load(name)
