"""`python -m keras_vae.bench.entry ENTRY OUT.json [--dataset NAME] [--limit N] [--epochs N] [--rounds R]
[--set K=V ...] [--optimizers]`: measure one zoo entry on one dataset in this process and write the
result as JSON (run by `keras_vae.bench`)."""

import argparse
import json
import sys
import tempfile
from pathlib import Path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m keras_vae.bench.entry")
    parser.add_argument("entry")
    parser.add_argument("out")
    parser.add_argument("--dataset", default=None, help="dataset name (default: the bench's, mnist_5k)")
    parser.add_argument("--limit", type=int, default=None, help="the first N examples of each split")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--no-inference", action="store_true")
    parser.add_argument("--optimizers", action="store_true", help="also FusedAdam against keras.optimizers.Adam")
    args = parser.parse_args(argv)

    from keras_vae.bench.training import DATASET, measure_training
    from keras_vae.cli.train import parse_settings
    from keras_vae.core.errors import UserError

    data = {"dataset": args.dataset or DATASET, "limit": args.limit}
    try:
        model, config, result = measure_training(args.entry, parse_settings(args.set), args.epochs, args.rounds, **data)
    except UserError as error:  # e.g. a dataset that does not load, or does not fit the entry
        sys.exit(f"error: {error}")
    if model.bound == "iwae" and args.rounds:
        from keras_vae.bench.bound import measure_bound
        from keras_vae.runner import train

        result["bound"] = measure_bound(model, train.load_data(config)[1])
    if args.optimizers:
        from keras_vae.bench.training import measure_optimizers

        result["optimizer"] = measure_optimizers(args.entry, parse_settings(args.set), args.rounds, **data)
    if not args.no_inference:
        from keras_vae.bench.inference import measure_inference

        with tempfile.TemporaryDirectory(prefix="keras_vae_bench_") as workdir:
            result["inference"] = measure_inference(model, config, Path(workdir))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
