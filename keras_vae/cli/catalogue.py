"""`list`: the zoo entries, read from their files (no model is built, TensorFlow is not imported)."""

HEADER = ("entry", "dataset", "latent", "parameters", "shipped weights: test metrics (nats; MSE per pixel)")


def add(commands):
    parser = commands.add_parser("list", help="list the zoo entries")
    parser.set_defaults(run=run, tensorflow=False)


def shipped(metrics, class_name):
    """The headline numbers of an entry's shipped metrics.json, in one cell, as the model's
    family states them (`keras_vae.models.headline_of`, read without TensorFlow).

    Args:
        metrics: the shipped metrics.json as a dict, or None.
        class_name: the entry's model class ("VAE"), from its config.json.

    Returns:
        A str: "<dataset>: <headline parts>", or "no shipped weights".
    """
    from keras_vae import models

    if metrics is None:
        return "no shipped weights"
    return f"{metrics['dataset']}: " + ", ".join(models.headline_of(class_name, metrics))


def run(args):
    from keras_vae.catalogue import entries

    rows = []
    for name in entries.entry_names():
        entry = entries.summary(name)
        rows.append((
            name,
            entry["dataset"],
            "-" if entry["latent_dim"] is None else str(entry["latent_dim"]),
            "?" if entry["parameters"] is None else f"{entry['parameters']:,}",
            shipped(entry["metrics"], entry["class"]),
            entry["description"],
        ))
    w = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(4)]
    for name, dataset, latent, parameters, metrics, *description in [HEADER, *rows]:
        print(f"{name:<{w[0]}}  {dataset:<{w[1]}}  {latent:>{w[2]}}  {parameters:>{w[3]}}  {metrics}")
        if description and description[0]:
            print(f"    {description[0]}")
