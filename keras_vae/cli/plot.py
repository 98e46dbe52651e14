"""`plot RUN_DIR`: the run's pictures as titled PNG files (see keras_vae.runner.figures).

Run it again at will: a figure drawn with a --seed or --dataset other than the default says so in
its name (reconstructions_seed1.png), so it lands beside the first; the same settings give the
same names, and an identical file is reported "already there"."""

from keras_vae.cli.common import run_folder
from keras_vae.cli.numbers import add_seed


def add(commands):
    parser = commands.add_parser("plot", help="draw reconstructions, samples, latent space and curves")
    parser.add_argument("run_dir", help="run folder, or a zoo entry name for its shipped weights")
    parser.add_argument("--dataset", help="draw test images from this dataset instead of the run's own")
    parser.add_argument(
        "--out", help="folder for the PNG files (default: the run folder; runs/ENTRY/pretrained for a zoo entry)"
    )
    add_seed(parser, "seed for prior samples and corruption (default 0)", default=0)
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace files of an earlier plot with the same settings that differ now (the model was trained further)",
    )
    parser.set_defaults(run=run, check=check)


def check(args):
    """The run folder, --dataset and --out, before TensorFlow."""
    from pathlib import Path

    from keras_vae.core.errors import UserError
    from keras_vae.data import datasets
    from keras_vae.runner import runs

    args.run_dir = run_folder(args.run_dir)
    if args.dataset:
        datasets.check_name(args.dataset)
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise UserError(f"--out {args.out} is a file, not a folder")
    runs.check_writable(runs.output_dir(args.run_dir, args.out), "write the pictures elsewhere with --out")


def run(args):
    from keras_vae.runner import figures

    for word, path in figures.plot_run(
        args.run_dir, dataset=args.dataset, out=args.out, seed=args.seed, overwrite=args.overwrite
    ):
        print(f"{word} {path}")
