"""`evaluate RUN_DIR`: test metrics of a trained run, printed and written to RUN_DIR/metrics.json
(for a shipped zoo entry, to runs/ENTRY/pretrained/metrics.json). Run it again at will: the same
settings print the kept metrics, other settings are computed and kept beside the first
(metrics_k5_batch64_seed0_limit50.json: see keras_vae.runner.evaluate.evaluation)."""

from keras_vae.cli.common import run_folder
from keras_vae.cli.numbers import AT_LEAST_0, AT_LEAST_1, add_seed

HEADER = ("dataset", "split", "split_examples", "likelihood", "binarization", "units", "iwae_k", "latent_dim")
HIDDEN = ("activity_per_dim", "legend", "settings")  # in metrics.json only


def add(commands):
    parser = commands.add_parser("evaluate", help="evaluate a trained run on its test split")
    parser.add_argument("run_dir", help="run folder, or a zoo entry name for its shipped weights")
    parser.add_argument("--dataset", help="evaluate on this dataset instead of the run's own")
    parser.add_argument("--limit", type=int, action=AT_LEAST_1, help="use only the first N test images")
    parser.add_argument(
        "--k",
        type=int,
        default=1000,
        action=AT_LEAST_0,
        help="importance samples per image for the log p(x) estimate of a VAE (default 1000; 0 skips it)",
    )
    parser.add_argument("--batch-size", type=int, action=AT_LEAST_1, help="test images per batch (default: the run's)")
    add_seed(parser, "seed of every draw (default 0)", default=0)
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="compute afresh and replace metrics.json (without it, metrics of the same settings are "
        "printed from their file, and other settings are written beside it)",
    )
    parser.add_argument(
        "--no-disentanglement",
        action="store_true",
        help="skip the disentanglement metrics on data with factors (minutes at their default sample sizes)",
    )
    parser.add_argument(
        "--factor-samples",
        type=int,
        action=AT_LEAST_1,
        metavar="N",
        help="training points of each disentanglement metric (default 10,000, disentanglement_lib's; "
        "evaluation and test points are half); recorded in metrics.json",
    )
    parser.set_defaults(run=run, check=check)


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
        elif isinstance(value, str):  # a model's own header line (td_vae: how rollouts are made)
            lines.append(f"  {name}: {value}")
        elif name == "active_units":
            lines.append(f"  {name:<16} {value:12d}  # of {metrics['latent_dim']}")
        elif name == "disentanglement":  # each metric's headline score; the rest in metrics.json
            lines.append("  disentanglement: " + disentanglement_line(value))
        elif isinstance(value, (list, dict)):  # per-dimension values, the judge's numbers: in metrics.json only
            continue
        elif isinstance(value, int):
            lines.append(f"  {name:<16} {value:12d}")
        else:
            lines.append(f"  {name:<16} {value:12.4f}")
    lines += [f"  {name}: {text}" for name, text in metrics.get("legend", {}).items()]
    return "\n".join(lines)


def disentanglement_line(metrics):
    """e.g. "beta_vae 0.812, factor_vae 0.655, mig 0.102, dci 0.231, sap n/a (needs two codes)"."""
    from keras_vae.runner.disentanglement import HEADLINES

    def shown(name):
        value = metrics[name][HEADLINES[name]]
        return f"{name} {value:.3f}" if value is not None else f"{name} n/a ({metrics[name]['reason']})"

    return ", ".join(shown(name) for name in HEADLINES)


def check(args):
    """The run folder and --dataset, before TensorFlow."""
    from keras_vae.core.errors import UserError
    from keras_vae.data import datasets
    from keras_vae.runner import runs
    from keras_vae.runner.disentanglement import scaled_settings

    args.run_dir = run_folder(args.run_dir)
    if args.factor_samples is not None:
        if args.no_disentanglement:
            raise UserError("--factor-samples sizes the metrics that --no-disentanglement skips: give one")
        scaled_settings(args.factor_samples)
    if args.dataset:
        datasets.check_name(args.dataset)
    runs.check_writable(
        runs.metrics_path(args.run_dir).parent, "copy the run folder somewhere writable and evaluate the copy"
    )


def disentanglement_settings(args):
    """False to skip the metrics, the scaled sample sizes of --factor-samples, or None (defaults)."""
    from keras_vae.runner.disentanglement import scaled_settings

    if args.no_disentanglement:
        return False
    return scaled_settings(args.factor_samples) if args.factor_samples else None


def run(args):
    from keras_vae.runner.evaluate import evaluation

    metrics, path, kept = evaluation(
        args.run_dir,
        dataset=args.dataset,
        batch_size=args.batch_size,
        limit=args.limit,
        k=args.k,
        seed=args.seed,
        overwrite=args.overwrite,
        progress=True,
        disentanglement_settings=disentanglement_settings(args),
    )
    print(format_metrics(metrics))
    print(f"{'already there:' if kept else 'wrote'} {path}")
