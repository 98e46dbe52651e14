"""Where a training step's time goes, by TensorFlow's profiler.

    python -m keras_vae.bench.ops ENTRY [--epochs N] [--set KEY=VALUE ...]

Trains zoo entry ENTRY's model (not a later stage such as a prior) on `mnist_5k`, seed 0, on one
device, at the entry's settings and `--set` overrides (as `python -m keras_vae.bench` does):
3 epochs unrecorded (tracing, warm-up), then `--epochs` epochs under the profiler. Prints each op
type's share of the busy thread time (idle threads left out) and the shares of four groups: the
matmul and convolution kernels, the optimizer's update, the input pipeline, everything else.

The bench's "of matmul" fraction compares the step's FLOPs with one large matmul's rate. Taking
busy thread time for the step's time (both threads busy), the kernels' share bounds that
fraction: it is reached only if the kernels run at the large matmul's rate.
"""

import argparse
import collections
import glob
import json
import sys
import tempfile

from keras_vae.core.errors import UserError

FIXED = ("dataset", "strategy", "seed")  # the bench's: mnist_5k, one device, seed 0
GROUPS = {  # group: what an op type's name contains (TensorFlow's, oneDNN's _Mkl* variants included)
    "matmul and convolution": ("MatMul", "Conv2D", "Conv3D", "Einsum"),
    "optimizer update": ("ResourceApply",),
    "input pipeline": ("Dataset", "Iterator"),
}
OTHER = "everything else"
IDLE = "IDLE"


def group_of(op_type):
    return next((group for group, parts in GROUPS.items() if any(part in op_type for part in parts)), OTHER)


def op_seconds(xplane):
    """{op type: busy seconds} from a profiler trace (an .xplane.pb), idle time left out."""
    try:
        from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin
    except ImportError as error:
        raise UserError(f"this TensorFlow has no profiler plugin to read its op statistics ({error})") from None
    raw, ok = plugin.xspace_to_tools_data([xplane], "framework_op_stats", {})
    tables = [t for t in json.loads(raw) if "rows" in t] if ok else []
    if not tables:
        raise UserError(f"the profiler could not read op statistics from {xplane}")
    table = tables[0]
    columns = [column["id"] for column in table["cols"]]
    seconds = collections.Counter()
    for row in table["rows"]:
        cells = dict(zip(columns, (cell.get("v") if isinstance(cell, dict) else cell for cell in row["c"])))
        if cells["type"] != IDLE:
            seconds[cells["type"]] += cells["total_self_time"] / 1e6  # microseconds
    return seconds


def profile_training(entry, overrides=None, epochs=2, warmup=3):
    """({op type: busy seconds} over `epochs` epochs of steady-state training of `entry`, a line
    naming the batch, steps and data)."""
    import tensorflow as tf

    from keras_vae.bench.training import DATASET, prepare

    fixed = sorted(set(overrides or {}) & set(FIXED))
    if fixed:
        raise UserError(
            f"the profile sets {', '.join(fixed)} itself (mnist_5k, one device, seed 0): drop --set {fixed[0]}"
        )
    config, _, model, _, (dataset, steps) = prepare(entry, overrides)
    model.fit(dataset, steps_per_epoch=steps, epochs=warmup, verbose=0, shuffle=False)
    with tempfile.TemporaryDirectory(prefix="keras_vae_ops_") as logdir:
        tf.profiler.experimental.start(logdir)
        try:
            model.fit(
                dataset, steps_per_epoch=steps, epochs=warmup + epochs, initial_epoch=warmup, verbose=0, shuffle=False
            )
        finally:
            tf.profiler.experimental.stop()
        [xplane] = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)
        setting = (
            f"batch {config.batch_size}, {model.steps_per_execution} steps per call, {steps or 'all'} steps an "
            f"epoch, {epochs} epochs recorded, {DATASET}"
        )
        return op_seconds(xplane), setting


def shares(seconds):
    """({group: share of the busy time}, [(op type, seconds, share)] largest first)."""
    total = sum(seconds.values())
    groups = collections.Counter()
    for op_type, value in seconds.items():
        groups[group_of(op_type)] += value / total
    return dict(groups), [(op_type, value, value / total) for op_type, value in seconds.most_common()]


def render(entry, seconds, setting="", top=12):
    groups, ops = shares(seconds)
    lines = [
        f"{entry} ({setting}): {sum(seconds.values()):.2f} s of busy thread time",
        "",
        "| group | share |",
        "| --- | --- |",
        *(f"| {group} | {groups.get(group, 0.0):.1%} |" for group in (*GROUPS, OTHER)),
        "",
        "| op type | group | busy s | share |",
        "| --- | --- | --- | --- |",
        *(f"| {op_type} | {group_of(op_type)} | {value:.3f} | {share:.1%} |" for op_type, value, share in ops[:top]),
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m keras_vae.bench.ops", description=__doc__.split("\n")[0])
    parser.add_argument("entry", help="zoo entry, e.g. dense_vae")
    parser.add_argument("--epochs", type=int, default=2, help="epochs recorded, >= 1 (default 2)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override an entry field, e.g. batch_size=128"
    )
    args = parser.parse_args(argv)
    from keras_vae.cli.train import parse_settings
    from keras_vae.core.quiet import import_tensorflow

    try:
        if args.epochs < 1:
            raise UserError(f"--epochs must be >= 1, got {args.epochs}")
        overrides = parse_settings(args.set)
        import_tensorflow()
        print(render(args.entry, *profile_training(args.entry, overrides, args.epochs)))
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
