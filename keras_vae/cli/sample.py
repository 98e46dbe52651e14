"""`sample RUN_DIR`: a PNG grid of images decoded from prior samples."""

from keras_vae.cli.numbers import AT_LEAST_1, add_seed
from keras_vae.errors import UserError


def add(commands):
    parser = commands.add_parser("sample", help="decode prior samples into a PNG grid")
    parser.add_argument("run_dir", help="run folder, or a zoo entry name for its shipped weights")
    parser.add_argument("--n", type=int, default=64, action=AT_LEAST_1, help="number of samples (default 64)")
    add_seed(parser, "sampling seed (default 0)", default=0)
    parser.add_argument("--out", help="folder for samples.png (default: the run folder; runs/ENTRY/pretrained for a zoo entry)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing samples.png")
    parser.set_defaults(run=run)


def run(args):
    from keras_vae import plots, runs

    model = runs.load_run_model(args.run_dir)
    if not hasattr(model, "sample"):
        raise UserError(f"{type(model).__name__} is not a generative model: it has no prior to sample")
    out = runs.output_dir(args.run_dir, args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    path = out / "samples.png"
    if path.exists() and not args.overwrite:
        raise UserError(f"{path} exists; pass --overwrite to replace it")
    out.mkdir(parents=True, exist_ok=True)
    plots.save_grid(model.sample(args.n, seed=args.seed).numpy(), path)
    print(f"wrote {path}")
