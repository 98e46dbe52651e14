"""`python -m keras_vae.bench [--entries A B ...] [--out bench.json] [--set KEY=VALUE ...]`

For dense_vae and conv_vae it also times training with the zoo's FusedAdam against
keras.optimizers.Adam in interleaved rounds (--no-optimizers skips it)."""

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

from keras_vae.bench.report import OPTIMIZER_ENTRIES, checks, render
from keras_vae.cli.numbers import bounded


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m keras_vae.bench", description=__doc__)
    parser.add_argument("--entries", nargs="+", help="zoo entries (default: all)")
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


def measure(entry, args, workdir):
    """One entry in its own process: its peak memory and compiled functions are its own."""
    out = Path(workdir) / f"{entry}.json"
    command = [
        sys.executable,
        "-m",
        "keras_vae.bench.entry",
        entry,
        str(out),
        "--epochs",
        str(args.epochs),
        "--rounds",
        str(args.rounds),
    ]
    command += [f"--set={pair}" for pair in args.set] + (["--no-inference"] if args.no_inference else [])
    command += ["--optimizers"] if entry in OPTIMIZER_ENTRIES and not args.no_optimizers else []
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: measuring {entry} failed:\n{done.stderr[-4000:]}")
    print(f"  {entry}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
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


def main(argv=None):
    args = parse(argv)
    from keras_vae.cli.common import import_tensorflow

    import_tensorflow()  # quietly: the registry needs Keras, the measuring is done in subprocesses
    from keras_vae.catalogue import entries
    from keras_vae.core.errors import UserError
    from keras_vae.runner import config as run_config

    names = args.entries or entries.entry_names()
    try:
        for entry in names:
            run_config.load_entry(entry)  # an unknown name fails before anything is measured
    except UserError as error:
        sys.exit(f"error: {error}")
    results = []
    with tempfile.TemporaryDirectory(prefix="keras_vae_bench_") as workdir:
        for entry in names:
            results.append(measure(entry, args, workdir))
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
