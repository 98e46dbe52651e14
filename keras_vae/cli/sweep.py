"""`sweep ENTRY --latent-dims 2,5,20`: one run per setting, evaluated, compared in a Markdown report."""

from keras_vae.cli.numbers import AT_LEAST_0, AT_LEAST_1, add_seed
from keras_vae.cli.train import parse_settings
from keras_vae.core.errors import UserError


def parse_list(text, option, kind=str):
    """'2,5,20' -> [2, 5, 20]; a clear error for anything else."""
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{option} takes a comma-separated list of {kind.__name__}s, got {text!r}") from None
    if not values or len(set(values)) != len(values):
        raise UserError(f"{option} takes distinct comma-separated values, got {text!r}")
    return values


def add(commands):
    parser = commands.add_parser(
        "sweep", help="train a model per latent size / likelihood and compare them", description=__doc__
    )
    parser.add_argument("name", help="zoo entry (see `list`)")
    parser.add_argument("--latent-dims", help="comma-separated latent sizes, e.g. 2,5,20,50,100")
    parser.add_argument("--likelihood", help="comma-separated decoder likelihoods, e.g. bernoulli,gaussian")
    parser.add_argument("--dataset", help="dataset of every run (default: the entry's)")
    parser.add_argument("--epochs", type=int, action=AT_LEAST_1, help="epochs of every run (default: the entry's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override an entry field")
    parser.add_argument(
        "--k", type=int, default=1000, action=AT_LEAST_0, help="importance samples for log p(x) (default 1000)"
    )
    parser.add_argument("--limit", type=int, action=AT_LEAST_1, help="use only the first N images of each split")
    add_seed(parser, "seed of every run (default 0)", default=0)
    parser.add_argument("--out", help="sweep folder (default runs/sweeps/NAME-TIMESTAMP)")
    parser.add_argument("--overwrite", action="store_true", help="replace the runs and report in --out")
    parser.set_defaults(run=run, check=check)


def overrides_of(args):
    """The settings of every run: --set, then --dataset and --epochs if given."""
    overrides = parse_settings(args.set)
    overrides.update({k: v for k, v in (("dataset", args.dataset), ("epochs", args.epochs)) if v is not None})
    return overrides


def check(args):
    """The entry, the settings, the dataset name and --latent-dims, before TensorFlow."""
    from keras_vae.data import datasets
    from keras_vae.runner.config import resolve

    latent_dims = parse_list(args.latent_dims, "--latent-dims", int) if args.latent_dims else None
    if latent_dims and min(latent_dims) < 1:
        raise UserError(f"--latent-dims must be >= 1, got {args.latent_dims}")
    datasets.check_name(resolve(args.name, overrides_of(args)).dataset)


def run(args):
    from keras_vae.core import losses
    from keras_vae.runner.sweep import sweep

    latent_dims = parse_list(args.latent_dims, "--latent-dims", int) if args.latent_dims else None
    likelihoods = parse_list(args.likelihood, "--likelihood") if args.likelihood else None
    unknown = set(likelihoods or []) - set(losses.LIKELIHOODS)
    if unknown:
        raise UserError(f"unknown likelihood {sorted(unknown)[0]!r}; known: {', '.join(losses.LIKELIHOODS)}")
    overrides = overrides_of(args)
    report = sweep(
        args.name,
        latent_dims,
        likelihoods,
        overrides,
        out=args.out,
        seed=args.seed,
        k=args.k,
        limit=args.limit,
        overwrite=args.overwrite,
        verbose=2,
    )
    print(f"report: {report}")
