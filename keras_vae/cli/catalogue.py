"""`list`: the zoo entries, read from their files (no model is built, TensorFlow is not imported)."""

HEADER = ("entry", "dataset", "latent", "parameters", "shipped weights: test metrics (nats; MSE per pixel)")


def add(commands):
    parser = commands.add_parser("list", help="list the zoo entries")
    parser.set_defaults(run=run, tensorflow=False)


def fallback_headline(metrics):
    """The headline of a metrics.json written before `evaluate` stored one: BCE and MSE when it
    has them, else the loss.

    Args:
        metrics: the metrics.json as a dict.

    Returns:
        A list of str.
    """
    if "bce" in metrics and "mse" in metrics:
        return [f"BCE {metrics['bce']:.1f}", f"MSE {metrics['mse']:.4f}"]
    return [f"loss {metrics['loss']:.1f}"]


def shipped(metrics):
    """The headline numbers of an entry's shipped metrics.json, in one cell: its "headline", as
    the model stated it when it was evaluated (`ZooModel.headline`), else `fallback_headline`.

    Args:
        metrics: the shipped metrics.json as a dict, or None.

    Returns:
        A str: "<dataset>: <headline parts>", or "no shipped weights".
    """
    if metrics is None:
        return "no shipped weights"
    parts = metrics["headline"] if "headline" in metrics else fallback_headline(metrics)
    return f"{metrics['dataset']}: " + ", ".join(parts)


def run(args):
    from keras_vae.catalogue import entries

    rows = []
    for name in entries.entry_names():
        entry = entries.summary(name)
        rows.append(
            (
                name,
                entry["dataset"],
                "-" if entry["latent_dim"] is None else str(entry["latent_dim"]),
                "?" if entry["parameters"] is None else f"{entry['parameters']:,}",
                shipped(entry["metrics"]),
                entry["description"],
            )
        )
    w = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(4)]
    for name, dataset, latent, parameters, metrics, *description in [HEADER, *rows]:
        print(f"{name:<{w[0]}}  {dataset:<{w[1]}}  {latent:>{w[2]}}  {parameters:>{w[3]}}  {metrics}")
        if description and description[0]:
            print(f"    {description[0]}")
