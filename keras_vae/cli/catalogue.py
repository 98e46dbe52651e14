"""`list`: the zoo entries, read from their files (no model is built, TensorFlow is not imported)."""

HEADER = ("entry", "dataset", "latent", "parameters", "shipped weights: test metrics (nats; MSE per pixel)")


def add(commands):
    parser = commands.add_parser("list", help="list the zoo entries")
    parser.set_defaults(run=run, tensorflow=False)


def shipped(metrics):
    """The headline numbers of an entry's shipped metrics.json, in one cell."""
    if metrics is None:
        return "no shipped weights"
    if "elbo" in metrics:
        parts = [f"ELBO {metrics['elbo']:.1f}"]
        if metrics.get("iwae") is not None:
            parts.append(f"IWAE (k = {metrics['iwae_k']}) {metrics['iwae']:.1f}")
        if "active_units" in metrics:
            parts.append(f"{metrics['active_units']}/{metrics['latent_dim']} active units")
    elif "repeat_mse_h1" in metrics:  # a sequence model's rollouts beside repeating the last frame
        last = max(int(name[len("mse_h"):]) for name in metrics if name.startswith("mse_h"))
        parts = [f"pair loss {metrics['loss']:.1f}",
                 f"rollout MSE 1 / {last} ahead {metrics['mse_h1']:.4f} / {metrics[f'mse_h{last}']:.4f} (repeating "
                 f"the last frame {metrics['repeat_mse_h1']:.4f} / {metrics[f'repeat_mse_h{last}']:.4f})"]
    else:
        parts = [f"BCE {metrics['bce']:.1f}", f"MSE {metrics['mse']:.4f}"]
    return f"{metrics['dataset']}: " + ", ".join(parts)


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
            shipped(entry["metrics"]),
            entry["description"],
        ))
    w = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(4)]
    for name, dataset, latent, parameters, metrics, *description in [HEADER, *rows]:
        print(f"{name:<{w[0]}}  {dataset:<{w[1]}}  {latent:>{w[2]}}  {parameters:>{w[3]}}  {metrics}")
        if description and description[0]:
            print(f"    {description[0]}")
