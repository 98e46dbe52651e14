"""`python -m keras_vae.bench [--entries A B ...] [--datasets D ...] [--jpeg-folder N] [--out bench.json]
[--set KEY=VALUE ...]`

Every (entry, dataset) pair is measured: training images/s and, beside it, the images/s of the
same input pipeline iterated with no model (`--datasets`, default mnist_5k; `--jpeg-folder N`
adds a folder of N generated 64x64 RGB JPEGs). For dense_vae and conv_vae it also times training
with the zoo's FusedAdam against keras.optimizers.Adam in interleaved rounds (--no-optimizers
skips it)."""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from keras_vae.bench.report import DATASET, OPTIMIZER_ENTRIES, checks, render
from keras_vae.cli.numbers import bounded


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m keras_vae.bench", description=__doc__)
    parser.add_argument("--entries", nargs="+", help="zoo entries (default: all)")
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=None,
        metavar="NAME",
        help=f"dataset names to measure every entry on, e.g. fashion_mnist folder:DIR (default: {DATASET})",
    )
    parser.add_argument(
        "--jpeg-folder",
        type=int,
        default=None,
        action=bounded(minimum=10),
        metavar="N",
        help="also measure on a temporary folder of N generated 64x64 RGB JPEGs (folder:DIR, after --datasets), "
        "N >= 10",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        action=bounded(minimum=1),
        metavar="N",
        help="train on the first N examples of each dataset's train split, e.g. 5000 for fashion_mnist's "
        "54,000 (default: all)",
    )
    parser.add_argument("--out", help="write the results here as JSON")
    # The steady-state rate is the median of epochs 3 onwards (1 and 2 trace and warm up).
    parser.add_argument(
        "--epochs",
        type=int,
        default=10,
        action=bounded(minimum=3),
        help="epochs of the steady-state run, >= 3 (default 10)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=8,
        action=bounded(minimum=1),
        help="rounds of pipeline/cached/XLA/matmul (default 8)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override an entry field for every entry, e.g. steps_per_execution=1",
    )
    parser.add_argument("--no-inference", action="store_true", help="skip export and serving")
    parser.add_argument(
        "--no-optimizers",
        action="store_true",
        help="skip FusedAdam against keras.optimizers.Adam (timed, --rounds rounds, for "
        + " and ".join(OPTIMIZER_ENTRIES)
        + ")",
    )
    parser.add_argument(
        "--peers-python",
        default=sys.executable,
        metavar="PATH",
        help="a Python with torch and pythae for the peer comparison, e.g. a separate venv's "
        "(default: this one; without them the comparison is skipped, saying why)",
    )
    parser.add_argument(
        "--peer-repeats",
        type=int,
        default=3,
        action=bounded(minimum=1),
        help="interleaved pairs per peer comparison (default 3)",
    )
    parser.add_argument("--no-peers", action="store_true", help="skip the peer comparison")
    return parser.parse_args(argv)


def measure(entry, dataset, args, workdir, index=0):
    """One entry on one dataset in its own process: its peak memory and compiled functions are
    its own.

    Args:
        entry: a zoo entry name.
        dataset: a dataset name.
        args: the parsed options (epochs, rounds, limit, set, no_inference, no_optimizers).
        workdir: the folder for the process's JSON result.
        index: the dataset's position in the list, for a file name of its own.

    Returns:
        dict: the result `keras_vae.bench.entry` wrote.
    """
    out = Path(workdir) / f"{entry}.{index}.json"
    command = [
        sys.executable,
        "-m",
        "keras_vae.bench.entry",
        entry,
        str(out),
        f"--dataset={dataset}",
        "--epochs",
        str(args.epochs),
        "--rounds",
        str(args.rounds),
    ]
    command += [f"--limit={args.limit}"] if args.limit else []
    command += [f"--set={pair}" for pair in args.set] + (["--no-inference"] if args.no_inference else [])
    command += ["--optimizers"] if entry in OPTIMIZER_ENTRIES and not args.no_optimizers else []
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: measuring {entry} on {dataset} failed:\n{done.stderr[-4000:]}")
    print(f"  {entry} on {dataset}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return json.loads(out.read_text())


def measure_peers(args):
    """The peer comparison rows, or a string saying why there are none."""
    from keras_vae.bench import peers

    missing = peers.peers_missing(args.peers_python)
    if missing:
        return f"skipped: {missing}; install torch and pythae in a separate environment and pass --peers-python PATH"
    started = time.perf_counter()
    rows = peers.compare(args.peers_python, args.peer_repeats)
    print(f"  peers: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return rows


def check_dataset(name):
    """Refuse an unknown dataset name before anything is measured (one UserError line); names
    with a path (npz:, folder:, idx:, moving:) are checked when they load."""
    from keras_vae.data import datasets

    if not name.startswith(("npz:", "folder:", "idx:", "moving:")) and name not in (
        *datasets.TFDS_SHAPES,
        datasets.OFFLINE_MNIST,
        datasets.DSPRITES,
    ):
        datasets.load(name)  # raises its unknown-name error, naming the closest known one


def main(argv=None):
    args = parse(argv)
    from keras_vae.core.quiet import import_tensorflow

    import_tensorflow()  # quietly: the registry needs Keras, the measuring is done in subprocesses
    from keras_vae.catalogue import entries
    from keras_vae.core.errors import UserError
    from keras_vae.runner import config as run_config

    names = args.entries or entries.entry_names()
    try:
        for entry in names:
            run_config.load_entry(entry)  # an unknown name fails before anything is measured
        for dataset in args.datasets or ():
            check_dataset(dataset)
    except UserError as error:
        sys.exit(f"error: {error}")
    results = []
    with tempfile.TemporaryDirectory(prefix="keras_vae_bench_") as workdir:
        names_of_data = list(args.datasets or [DATASET])
        if args.jpeg_folder:
            from keras_vae.bench.folders import write_jpegs

            folder = write_jpegs(Path(workdir) / f"jpeg64x{args.jpeg_folder}", args.jpeg_folder)
            names_of_data.append(f"folder:{folder}")
        for entry in names:
            for index, dataset in enumerate(names_of_data):
                results.append(measure(entry, dataset, args, workdir, index))
    peers = None if args.no_peers else measure_peers(args)
    print(render(results, peers))
    if args.out:
        report = {
            "command": "python -m keras_vae.bench " + " ".join(argv if argv is not None else sys.argv[1:]),
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                **{name: version(name) for name in ("tensorflow", "keras", "onnxruntime")},
            },
            "targets": [{"target": t, "passed": ok, "detail": d} for t, ok, d in checks(results, peers)],
            "results": results,
            "peers": peers,
        }
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
