"""Are a model's samples what was asked for, and how close are they to the data? An independent
classifier judges them.

    python -m keras_vae.judge RUN_DIR [--n 100] [--n-quality 10000] [--seed 0] [--dataset NAME]
    keras-vae judge RUN_DIR ...  (the same)

A small Keras CNN (two conv layers, the keras-io MNIST example's shape) is trained on the
training split of the run's dataset, never on samples, and reports its test-split accuracy. Then:

- a model conditioned on labels draws `n` samples per class; the table gives, per requested
  class, the fraction the classifier labels as that class;
- any other generative model draws `n` samples in all; the classifier's top-class probability
  says whether each looks like one clear class (the fraction above 0.9);
- sample quality (`sample_quality`): `n_quality` samples (a conditional model's labels in turn)
  against the test split, both seen through the classifier's penultimate layer (FEATURE_LAYER,
  the flattened pooled convolutions): the Fréchet distance, precision and recall (k = 3), density
  and coverage (k = 5) of `keras_vae.sample_quality`, and the share of confident samples. They
  go into the run's metrics.json under "sample_quality" with their settings (other keys kept).
"""

import argparse
import sys

import numpy as np

from keras_vae.core.errors import UserError

CONFIDENT = 0.9
FEATURE_LAYER = "features"  # the classifier's Flatten: its penultimate layer (Dropout is off at inference)
N_QUALITY = 10_000
K_PRECISION_RECALL = 3  # Kynkäänniemi et al. 2019
K_DENSITY_COVERAGE = 5  # Naeem et al. 2020
SAMPLE_BATCH = 1000


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
            keras.layers.Flatten(name=FEATURE_LAYER),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(data.num_classes, activation="softmax"),
        ]
    )
    classifier.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    classifier.fit(data.x_train, data.y_train, batch_size=128, epochs=epochs, verbose=0)
    _, accuracy = classifier.evaluate(data.x_test, data.y_test, verbose=0)
    return classifier, float(accuracy)


PRIOR = "prior"  # the model's own prior (`model.sample` as it is: a VAE's N(0, I), a VQ-VAE's PixelCNN)


def samplers_of(model):
    """What the judge compares: the model's prior, then each fitted sampler attached to it ("gmm")."""
    return (PRIOR, *model.attached_samplers())


def drawing(sampler):
    """The keyword arguments of `model.sample` that draw from `sampler` (one of `samplers_of`)."""
    return {} if sampler == PRIOR else {"sampler": sampler}


def judge(model, classifier, n=100, seed=0, sampler=PRIOR):
    """{"per_class": {label: fraction classified as it}} for a label-conditioned model, else
    {"confident": fraction of n samples whose top-class probability exceeds CONFIDENT}; the
    samples drawn from `sampler` (`samplers_of`)."""
    if "labels" in model.condition_classes:
        per_class = {}
        for label in range(model.condition_classes["labels"]):
            images = model.sample(n, seed=seed + label, labels=label, **drawing(sampler)).numpy()
            predicted = classifier.predict(images, verbose=0).argmax(axis=-1)
            per_class[label] = float(np.mean(predicted == label))
        return {"per_class": per_class, "samples_per_class": n}
    probabilities = classifier.predict(model.sample(n, seed=seed, **drawing(sampler)).numpy(), verbose=0)
    return {
        "confident": float(np.mean(probabilities.max(axis=-1) > CONFIDENT)),
        "samples": n,
        "predicted_counts": np.bincount(probabilities.argmax(-1), minlength=probabilities.shape[-1]).tolist(),
    }


def feature_extractor(classifier):
    """A Keras model: images -> (features [N, D] of FEATURE_LAYER, class probabilities [N, C])."""
    import keras

    return keras.Model(classifier.inputs, [classifier.get_layer(FEATURE_LAYER).output, classifier.outputs[0]])


def features_of(extractor, images, batch_size=SAMPLE_BATCH):
    """(features float64 [N, D], probabilities [N, C]) of images [N, H, W, C]."""
    features, probabilities = extractor.predict(images, batch_size=batch_size, verbose=0)
    return features.astype(np.float64), probabilities


def draw(model, n, seed=0, batch_size=SAMPLE_BATCH, sampler=PRIOR):
    """n samples [n, H, W, C] from `sampler`, drawn `batch_size` at a time (batch i with seed
    seed + i); a model conditioned on labels draws its classes in turn (sample j has label j mod
    classes)."""
    classes = model.condition_classes.get("labels")
    batches = []
    for i, start in enumerate(range(0, n, batch_size)):
        size = min(batch_size, n - start)
        conditions = {} if classes is None else {"labels": (np.arange(start, start + size) % classes).astype(np.int32)}
        batches.append(np.asarray(model.sample(size, seed=seed + i, **conditions, **drawing(sampler))))
    return np.concatenate(batches)


def quality_of(real, fake, fake_probabilities=None):
    """The metrics of `keras_vae.sample_quality` of features `fake` against `real`; precision,
    recall, density and coverage on equal numbers of each (the first min of both, as the papers
    compare them: coverage grows with the number of samples)."""
    from keras_vae import sample_quality

    m = min(len(real), len(fake))
    numbers = {"frechet_distance": sample_quality.frechet_distance(real, fake)}
    numbers.update(sample_quality.precision_recall(real[:m], fake[:m], k=K_PRECISION_RECALL))
    numbers.update(sample_quality.density_coverage(real[:m], fake[:m], k=K_DENSITY_COVERAGE))
    if fake_probabilities is not None:
        numbers["confident"] = float(np.mean(fake_probabilities.max(axis=-1) > CONFIDENT))
    numbers["neighbour_examples"] = m
    return numbers


QUALITY_LEGEND = {
    "frechet_distance": "Fréchet distance between Gaussians fitted to the features of the samples and of the "
    "test split (means and covariances); 0 for identical statistics, lower is better",
    "precision": f"share of samples inside the test split's manifold (union of balls reaching each test "
    f"image's k={K_PRECISION_RECALL}-th neighbour; Kynkäänniemi et al. 2019): are samples realistic?",
    "recall": f"share of test images inside the samples' manifold (k={K_PRECISION_RECALL}): is the data's "
    "variety produced?",
    "density": f"real balls (k={K_DENSITY_COVERAGE}) holding each sample, divided by k, averaged (Naeem et al. "
    "2020): about 1 when samples are distributed like the data",
    "coverage": f"share of test images whose ball (k={K_DENSITY_COVERAGE}) holds a sample (Naeem et al. 2020)",
    "confident": f"share of samples whose top-class probability exceeds {CONFIDENT}",
    "neighbour_examples": "images of each set that precision, recall, density and coverage compare (equal numbers)",
}


SAMPLER_DESCRIPTIONS = {
    PRIOR: "the model's prior (model.sample)",
    "gmm": "the Gaussian mixture fitted to the training split's posterior means (model.sample(..., sampler='gmm'))",
    "flow": "the masked autoregressive flow fitted to the training split's posterior means (sampler='flow')",
}


def sample_quality(model, classifier, data, n=N_QUALITY, seed=0, accuracy=None, reference=True, samplers=(PRIOR,)):
    """Sample-quality numbers of `model` against data's test split, through the classifier's features.

    Args:
        model: a generative model (`sample`).
        classifier: from `train_classifier`.
        data: the dataset the classifier was trained on (`keras_vae.data.datasets.load`).
        n: samples drawn from each sampler (seed `seed`, see `draw`).
        accuracy: the classifier's test accuracy, recorded in the settings.
        reference: also measure the training split against the test split (real against real:
            what a perfect sampler would score at these sizes; the classifier was fitted on it).
        samplers: what the samples are drawn from (`samplers_of`): the first's numbers are the
            result's own, each later one's go under "by_sampler" with its settings.

    Returns:
        a JSON-ready dict: the numbers (QUALITY_LEGEND), "settings" and "legend", with
        `reference` "training_split" (the same numbers of the training images), and with more
        than one sampler "by_sampler" ({sampler: numbers and settings}).
    """
    extractor = feature_extractor(classifier)
    real, real_probabilities = features_of(extractor, data.x_test)  # once, for every sampler
    settings = {
        "samples": n,
        "seed": seed,
        "real": f"the {len(real)} test images of {data.name}",
        "k_precision_recall": K_PRECISION_RECALL,
        "k_density_coverage": K_DENSITY_COVERAGE,
        "confident_above": CONFIDENT,
        "feature_layer": f"{FEATURE_LAYER}: the judge CNN's penultimate layer (its Flatten), {real.shape[1]} values",
        "classifier": f"CNN trained on the {len(data.y_train)} training images of {data.name}",
        "classifier_test_accuracy": accuracy,
    }

    def numbers_of(sampler):
        fake, fake_probabilities = features_of(extractor, draw(model, n, seed, sampler=sampler))
        numbers = quality_of(real, fake, fake_probabilities)
        numbers["settings"] = {**settings, "sampler": SAMPLER_DESCRIPTIONS[sampler]}
        return numbers

    first, *others = samplers
    result = numbers_of(first)
    if others:
        result["by_sampler"] = {sampler: numbers_of(sampler) for sampler in others}
    if reference:
        train, train_probabilities = features_of(extractor, data.x_train[:n])
        result["training_split"] = quality_of(real, train, train_probabilities)
        result["test_split_confident"] = float(np.mean(real_probabilities.max(axis=-1) > CONFIDENT))
    result["legend"] = QUALITY_LEGEND
    return result


def quality_table(quality):
    """Markdown: the numbers of the samples (of the prior, and of each fitted sampler under
    "by_sampler") and, if measured, of the training split (real digits against the test split:
    what a perfect sampler would score here), then the sizes compared."""
    names = ("frechet_distance", "precision", "recall", "density", "coverage", "confident")
    columns = [("samples" if "by_sampler" not in quality else f"samples ({PRIOR})", quality)]
    columns += [(f"samples ({name})", numbers) for name, numbers in quality.get("by_sampler", {}).items()]
    if "training_split" in quality:
        columns.append(("training split (real)", quality["training_split"]))
    rows = [f"| {name} | " + " | ".join(f"{numbers[name]:.4g}" for _, numbers in columns) + " |" for name in names]
    header = "| against the test split | " + " | ".join(title for title, _ in columns) + " |"
    sizes = ", ".join(f"{numbers['neighbour_examples']} {title}" for title, numbers in columns)
    note = f"precision, recall, density and coverage compare equal numbers: {sizes} images against as many test images"
    return "\n".join([header, "|---|" + "---|" * len(columns), *rows, note])


def write_quality(run_dir, quality):
    """Put `quality` into the run's metrics.json as "sample_quality", keeping every other key
    (`evaluate`'s numbers); the path written."""
    from keras_vae.runner import evaluate, runs

    path = evaluate.metrics_path(run_dir)
    metrics = runs.read_json(path) if path.exists() else {}
    metrics["sample_quality"] = quality
    path.parent.mkdir(parents=True, exist_ok=True)
    runs.write_json(path, metrics)
    return path


def table(result):
    """Markdown: one row per class (conditional models) or one summary line."""
    if "per_class" in result:
        rows = [f"| {label} | {fraction:.0%} |" for label, fraction in result["per_class"].items()]
        return "\n".join(["| requested class | classified as requested |", "|---|---|", *rows])
    return f"{result['confident']:.0%} of {result['samples']} samples have a top-class probability above {CONFIDENT}"


def add_arguments(parser):
    """The options of `python -m keras_vae.judge` and `keras-vae judge` (one definition)."""
    from keras_vae.cli.numbers import AT_LEAST_0, AT_LEAST_1, add_seed

    parser.add_argument("run_dir", help="run folder, or a zoo entry name for its shipped weights")
    parser.add_argument(
        "--n", type=int, default=100, action=AT_LEAST_1, help="samples per class, or in all (default 100)"
    )
    parser.add_argument(
        "--n-quality",
        type=int,
        default=N_QUALITY,
        action=AT_LEAST_0,
        help=f"samples for the sample-quality numbers, written into metrics.json (default {N_QUALITY:,}; 0 skips them)",
    )
    add_seed(parser, "seed of the samples (default 0)", default=0)
    parser.add_argument("--dataset", help="train the classifier on this dataset (default: the run's)")
    parser.add_argument(
        "--classifier-epochs",
        type=int,
        default=12,
        action=AT_LEAST_1,
        help="epochs of the classifier on the training split (default 12)",
    )


def main(argv=None):
    from keras_vae.core.quiet import import_tensorflow

    parser = argparse.ArgumentParser(prog="python -m keras_vae.judge", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        import_tensorflow()
        report(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def report(args):
    """Train the classifier, print the judge's table and the sample-quality numbers, and write those
    into the run's metrics.json (runs/ENTRY/pretrained/metrics.json for a zoo entry)."""
    judge_run(args.run_dir, args.n, args.n_quality, args.seed, args.dataset, args.classifier_epochs)


def judge_run(run_dir, n=100, n_quality=N_QUALITY, seed=0, dataset=None, classifier_epochs=12, show=print):
    """`report` in Python: judge the samples of the run's prior and of each fitted sampler, show
    the tables, and write the sample-quality numbers (n_quality > 0) into the run's metrics.json.

    Returns:
        the sample-quality dict written (None with n_quality 0).

    Raises:
        UserError: not a run folder, or data or a model that does not load.
    """
    from keras_vae.data import datasets
    from keras_vae.runner import loading, runs

    config = runs.read_config(run_dir)
    data = datasets.load(dataset or config.dataset, image_size=config.image_size, crop=config.crop)
    classifier, accuracy = train_classifier(data, epochs=classifier_epochs)
    model = loading.load_run_model(run_dir)
    show(
        f"classifier: CNN trained on the {len(data.x_train)} training images of {data.name}, "
        f"test accuracy {accuracy:.1%}"
    )
    for sampler in samplers_of(model):
        show(f"samples from {SAMPLER_DESCRIPTIONS[sampler]}:")
        show(table(judge(model, classifier, n, seed, sampler)))
    if not n_quality:
        return None
    quality = sample_quality(model, classifier, data, n_quality, seed, accuracy, samplers=samplers_of(model))
    for numbers in (quality, *quality.get("by_sampler", {}).values()):
        numbers["settings"]["classifier_epochs"] = classifier_epochs
    show(f"sample quality of {n_quality} samples against the {len(data.x_test)} test images:")
    show(quality_table(quality))
    show(f"wrote {write_quality(run_dir, quality)} (key sample_quality)")
    return quality


if __name__ == "__main__":
    sys.exit(main())
