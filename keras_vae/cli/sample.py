"""`sample RUN_DIR`: a titled PNG grid of new images drawn from the model's prior (or, with
`--sampler gmm` or `flow`, a density fitted to a VAE's codes: samples_gmm_seed0_n64.png); for a model
that samples from observed examples (`model.sample_figure`, td_vae's rollouts), that figure
drawn from n test examples of the run's dataset. The file's name says its settings
(samples_seed0_n64.png), so a second sample never replaces the first."""

from keras_vae.cli.common import run_folder
from keras_vae.cli.numbers import AT_LEAST_1, add_seed
from keras_vae.core.errors import UserError


def add(commands):
    parser = commands.add_parser(
        "sample",
        help="draw new images from the model's prior into a PNG grid",
        description="Write samples_seedS_nN.png (samples_labelL_seedS_nN.png with --label): the file name "
        "says the settings, so another --seed or --n adds a file and keeps the first. The same settings "
        "again give the same file; when it is identical the command says `already there: PATH`.",
    )
    parser.add_argument("run_dir", help="run folder, or a zoo entry name for its shipped weights")
    parser.add_argument("--n", type=int, default=64, action=AT_LEAST_1, help="number of samples (default 64)")
    add_seed(parser, "sampling seed (default 0)", default=0)
    parser.add_argument(
        "--label", type=int, help="the class to draw, for a model conditioned on labels (default: every class in turn)"
    )
    parser.add_argument(
        "--sampler",
        choices=("normal", "gmm", "flow"),
        default="normal",
        help="what a VAE draws z from: `normal`, its own prior (N(0, I); vamp_vae's VampPrior) (default), "
        "`gmm`, the Gaussian "
        "mixture fitted to its training codes, or `flow`, the masked autoregressive flow fitted to them "
        "(`train --resume RUN --stage sampler` fits both)",
    )
    parser.add_argument(
        "--out",
        help="folder for the PNG file (default: the run folder; runs/ENTRY/pretrained for a zoo entry)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a file of the same settings that differs now (the model was trained further)",
    )
    parser.set_defaults(run=run, check=check)


def check(args):
    """The run folder and --out, before TensorFlow."""
    from keras_vae.runner import runs

    args.run_dir = run_folder(args.run_dir)
    out = runs.output_dir(args.run_dir, args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    runs.check_writable(out, "write the samples elsewhere with --out")


def run(args):
    from keras_vae.runner import figures, loading, plots, runs

    model = loading.load_run_model(args.run_dir)
    conditions = {} if args.label is None else {"labels": args.label}
    out = runs.output_dir(args.run_dir, args.out)
    if model.sample_figure:
        return sample_figure(model, args, out)
    if args.sampler != "normal":
        model.fitted_sampler(args.sampler)  # refuses a model without one, or not fitted
        conditions["sampler"] = args.sampler
    images = model.sample(args.n, seed=args.seed, **conditions).numpy()  # refuses what the model cannot do
    fitted = None if args.sampler == "normal" else args.sampler
    settings = runs.suffix(label=args.label, seed=args.seed, n=args.n)
    name = "samples" + (f"_{fitted}" if fitted else "") + settings + ".png"
    given = f", labels = {args.label}" if args.label is not None else ""
    entry = runs.read_config(args.run_dir).entry or out.name
    source = "its prior" if fitted is None else f"its fitted {fitted} sampler"
    title = f"{args.n} samples of {entry} from {source} (seed {args.seed}{given})"
    with figures.staged(out, args.overwrite) as (staging, report):
        plots.save_titled_grid(images, staging / name, title, columns=min(args.n, 8))
    for word, path in report:
        print(f"{word} {path}")


PREFIX = "samples_"  # `plot` writes the figure without it: neither overwrites the other


def sample_figure(model, args, out):
    """The model's sample figure (samples_rollouts_seedS_nN.png and .gif) from the first n test
    examples."""
    from keras_vae.data import datasets as data
    from keras_vae.runner import figures, runs

    if args.label is not None:
        raise UserError(f"{type(model).__name__} takes no --label")
    config = runs.read_config(args.run_dir)
    dataset = data.load(config.dataset, image_size=config.image_size, crop=config.crop)
    dataset.check_fits(model)
    tag = runs.suffix(seed=args.seed, n=args.n)
    with figures.staged(out, args.overwrite) as (staging, report):
        written = figures.draw(
            model.sample_figure, model, staging, dataset.examples("test", args.n), seed=args.seed, prefix=PREFIX
        )
        for extra in sorted(staging.glob(f"{written.stem}.*")):
            extra.rename(staging / f"{extra.stem}{tag}{extra.suffix}")
    for word, path in report:
        print(f"{word} {path}")
