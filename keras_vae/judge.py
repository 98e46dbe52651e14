"""Are a model's samples what was asked for? An independent classifier judges them.

    python -m keras_vae.judge RUN_DIR [--n 100] [--seed 0] [--dataset NAME]

A small Keras CNN (two conv layers, the keras-io MNIST example's shape) is trained on the
training split of the run's dataset, never on samples, and reports its test-split accuracy. Then:

- a model conditioned on labels draws `n` samples per class; the table gives, per requested
  class, the fraction the classifier labels as that class;
- any other generative model draws `n` samples in all; the classifier's top-class probability
  says whether each looks like one clear class (the fraction above 0.9).
"""

import argparse
import sys

import numpy as np

from keras_vae.core.errors import UserError

CONFIDENT = 0.9


def train_classifier(data, epochs=12, seed=0):
    """(classifier, test accuracy): a CNN fitted to data's training split (labels needed)."""
    import keras

    if data.num_classes is None:
        raise UserError(f"dataset {data.name} has no labels to train a classifier on")
    keras.utils.set_random_seed(seed)
    classifier = keras.Sequential(
        [
            keras.Input(data.image_shape),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(data.num_classes, activation="softmax"),
        ]
    )
    classifier.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    classifier.fit(data.x_train, data.y_train, batch_size=128, epochs=epochs, verbose=0)
    _, accuracy = classifier.evaluate(data.x_test, data.y_test, verbose=0)
    return classifier, float(accuracy)


def judge(model, classifier, n=100, seed=0):
    """{"per_class": {label: fraction classified as it}} for a label-conditioned model, else
    {"confident": fraction of n samples whose top-class probability exceeds CONFIDENT}."""
    if "labels" in model.condition_classes:
        per_class = {}
        for label in range(model.condition_classes["labels"]):
            images = model.sample(n, seed=seed + label, labels=label).numpy()
            predicted = classifier.predict(images, verbose=0).argmax(axis=-1)
            per_class[label] = float(np.mean(predicted == label))
        return {"per_class": per_class, "samples_per_class": n}
    probabilities = classifier.predict(model.sample(n, seed=seed).numpy(), verbose=0)
    return {
        "confident": float(np.mean(probabilities.max(axis=-1) > CONFIDENT)),
        "samples": n,
        "predicted_counts": np.bincount(probabilities.argmax(-1), minlength=probabilities.shape[-1]).tolist(),
    }


def table(result):
    """Markdown: one row per class (conditional models) or one summary line."""
    if "per_class" in result:
        rows = [f"| {label} | {fraction:.0%} |" for label, fraction in result["per_class"].items()]
        return "\n".join(["| requested class | classified as requested |", "|---|---|", *rows])
    return f"{result['confident']:.0%} of {result['samples']} samples have a top-class probability above {CONFIDENT}"


def main(argv=None):
    from keras_vae.core.quiet import import_tensorflow

    parser = argparse.ArgumentParser(prog="python -m keras_vae.judge", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", help="run folder, or a zoo entry name for its shipped weights")
    parser.add_argument("--n", type=int, default=100, help="samples per class, or in all (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", help="train the classifier on this dataset (default: the run's)")
    args = parser.parse_args(argv)
    try:
        import_tensorflow()
        report(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def report(args):
    from keras_vae.data import datasets
    from keras_vae.runner import loading, runs

    if args.n < 1:
        raise UserError(f"--n must be >= 1, got {args.n}")
    config = runs.read_config(args.run_dir)
    data = datasets.load(args.dataset or config.dataset, image_size=config.image_size, crop=config.crop)
    classifier, accuracy = train_classifier(data)
    result = judge(loading.load_run_model(args.run_dir), classifier, args.n, args.seed)
    print(
        f"classifier: CNN trained on the {len(data.x_train)} training images of {data.name}, "
        f"test accuracy {accuracy:.1%}"
    )
    print(table(result))


if __name__ == "__main__":
    sys.exit(main())
