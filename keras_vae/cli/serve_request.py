"""`serve-request MODEL`: decode N(0, I) latents with a TF Serving decoder into a PNG grid."""

from pathlib import Path

from keras_vae.cli.numbers import AT_LEAST_1, POSITIVE, add_seed
from keras_vae.core.errors import UserError


def add(commands):
    parser = commands.add_parser(
        "serve-request",
        help="ask a TF Serving decoder for images: a PNG grid",
        description=__doc__,
    )
    parser.add_argument("model", help="TF Serving model name, e.g. conv_vae_decoder")
    parser.add_argument("--latent-dim", type=int, required=True, action=AT_LEAST_1, help="the decoder's latent size")
    parser.add_argument("--url", default="http://localhost:8501", help="REST address (default http://localhost:8501)")
    parser.add_argument(
        "--request-format",
        default="inputs",
        choices=["inputs", "instances"],
        help="columnar {'inputs': {'z': ...}} (default) or row {'instances': ...}",
    )
    parser.add_argument("--n", type=int, default=16, action=AT_LEAST_1, help="number of images (default 16)")
    add_seed(parser, "seed of the latents (default 0)", default=0)
    parser.add_argument("--label", type=int, help="the class to draw, for a decoder that takes labels")
    parser.add_argument("--timeout", type=float, default=30.0, action=POSITIVE, help="seconds to wait for the server")
    parser.add_argument("--out", default="served.png", help="PNG file to write (default served.png)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.set_defaults(run=run, check=check)


def check(args):
    """--out, before TensorFlow."""
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder, not a PNG file")
    if out.exists() and not args.overwrite:
        raise UserError(f"{out} exists; pass --overwrite to replace it")


def run(args):
    import numpy as np

    from keras_vae.export import rest
    from keras_vae.runner import plots

    out = Path(args.out)
    z = np.random.default_rng(args.seed).standard_normal((args.n, args.latent_dim)).astype(np.float32)
    inputs = {"z": z} if args.label is None else {"z": z, "labels": np.full(args.n, args.label, np.int32)}
    images = rest.predict(args.url, args.model, inputs, args.request_format, args.timeout)
    plots.save_grid(images, out)
    print(f"wrote {out} ({len(images)} images from {args.model})")
