"""`evaluate RUN_DIR`: test metrics of a trained run, printed and written to RUN_DIR/metrics.json
(for a shipped zoo entry, to runs/ENTRY/pretrained/metrics.json)."""

from keras_vae.errors import UserError

HEADER = ("dataset", "split", "split_examples", "likelihood", "binarization", "units", "iwae_k", "latent_dim")
HIDDEN = ("activity_per_dim", "legend")  # in metrics.json only


def add(commands):
    parser = commands.add_parser("evaluate", help="evaluate a trained run on its test split")
    parser.add_argument("run_dir", help="run folder, or a zoo entry name for its shipped weights")
    parser.add_argument("--dataset", help="evaluate on this dataset instead of the run's own")
    parser.add_argument("--limit", type=int, help="use only the first N test images")
    parser.add_argument("--k", type=int, default=1000,
                        help="importance samples per image for the log p(x) estimate of a VAE (default 1000; 0 skips it)")
    parser.add_argument("--batch-size", type=int, help="test images per batch (default: the run's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every draw (default 0)")
    parser.set_defaults(run=run)


def format_metrics(metrics):
    """The table: a header, one `name value` line per number, per-dimension KL, and the legend
    the model wrote (each term's meaning and units, defined where the term is produced)."""
    lines = [
        f"test metrics on {metrics['dataset']} ({metrics['split']} split, {metrics['split_examples']} images), "
        f"{metrics['units']}",
        f"  likelihood: {metrics['likelihood']}; binarization: {metrics['binarization']}",
    ]
    for name, value in metrics.items():
        if name in HEADER or name in HIDDEN:
            continue
        if name == "kl_per_dim":
            lines.append("  kl per latent dimension:")
            lines += ["   " + " ".join(f"{v:7.3f}" for v in value[i : i + 10]) for i in range(0, len(value), 10)]
        elif name == "active_units":
            lines.append(f"  {name:<16} {value:12d}  # of {metrics['latent_dim']}")
        else:
            lines.append(f"  {name:<16} {value:12.4f}")
    lines += [f"  {name}: {text}" for name, text in metrics.get("legend", {}).items()]
    return "\n".join(lines)


def run(args):
    from keras_vae.evaluate import evaluate_run, metrics_path

    for name in ("limit", "batch_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.k < 0:
        raise UserError(f"--k must be >= 0, got {args.k}")
    metrics = evaluate_run(args.run_dir, dataset=args.dataset, batch_size=args.batch_size, limit=args.limit,
                           k=args.k, seed=args.seed, progress=True)
    print(format_metrics(metrics))
    print(f"wrote {metrics_path(args.run_dir)}")
