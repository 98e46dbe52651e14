"""`train NAME`: train a zoo entry into a run folder (or `--resume RUN_DIR`)."""

import shlex

from keras_vae.cli.numbers import AT_LEAST_1, add_seed
from keras_vae.core.errors import UserError
from keras_vae.runner.distribute import PRECISIONS, STRATEGIES

SPEED_FLAGS = ("precision", "strategy", "jit_compile", "steps_per_execution")


def parse_settings(pairs):
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--set takes KEY=VALUE, got {pair!r}")
        settings[key] = value
    return settings


def add(commands):
    parser = commands.add_parser("train", help="train a zoo entry", description=__doc__)
    parser.add_argument("name", nargs="?", help="zoo entry (see `list`); omit with --resume")
    parser.add_argument(
        "--epochs", type=int, action=AT_LEAST_1, help="total epochs (with --resume: train up to this many)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override an entry field, e.g. latent_dim=2 or dataset=npz:my.npz",
    )
    parser.add_argument("--out", help="run folder (default runs/NAME/TIMESTAMP)")
    add_seed(parser, "random seed, 0..2**31-1 (default: drawn and recorded)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its last checkpoint")
    parser.add_argument(
        "--stage",
        metavar="STAGE",
        help="train one stage alone: `model` (a new run's autoencoder, without its prior), or with "
        "--resume a later one such as `prior`, or `sampler` (a VAE's Gaussian mixture over its codes, "
        "for `sample --sampler gmm`; see the entry's README)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run folder --out")
    parser.add_argument(
        "--limit",
        type=int,
        action=AT_LEAST_1,
        help="use only the first N images of each split (recorded; --resume keeps it)",
    )
    speed = parser.add_argument_group("speed and scale (shorthands for --set; see README)")
    speed.add_argument("--precision", choices=PRECISIONS, help="dtype policy (default float32)")
    speed.add_argument(
        "--strategy",
        choices=STRATEGIES,
        help="default: one device; mirrored: every GPU (or CPU) here; "
        "multi_worker: the cluster in TF_CONFIG (needs --seed)",
    )
    speed.add_argument(
        "--jit-compile", action="store_true", default=None, help="compile the train step with XLA (single device only)"
    )
    speed.add_argument(
        "--steps-per-execution", type=int, metavar="N", action=AT_LEAST_1, help="train steps per tf.function call"
    )
    parser.set_defaults(run=run, check=check)


def resume_hint(run_dir, limit=None):
    """What to tell the user after Ctrl-C: the exact command that continues the run."""
    from keras_vae.cli.common import prog
    from keras_vae.runner import runs

    if not (run_dir / runs.STATE).is_file():
        return f"no epoch finished, so {run_dir} has no checkpoint to resume from"
    done = runs.read_json(run_dir / runs.STATE)["epoch"]
    command = f"{prog()} train --resume {shlex.quote(str(run_dir))}" + (f" --limit {limit}" if limit else "")
    return f"{done} epoch(s) checkpointed in {run_dir}; continue with:\n  {command}"


def run(args):
    from keras_vae.runner.fit import Interrupted

    try:
        run_dir = start(args)
    except Interrupted as interrupted:
        raise KeyboardInterrupt(resume_hint(interrupted.run_dir, args.limit)) from None
    print(f"run folder: {run_dir}")
    print(next_steps(run_dir, args.stage))


def next_steps(run_dir, stage=None):
    """What to try on a trained run folder (or after fitting its sampler): the exact commands."""
    from keras_vae.cli.common import prog

    folder = shlex.quote(str(run_dir))
    if stage == "sampler":
        commands = [f"{prog()} sample {folder} --sampler gmm", f"{prog()} judge {folder}"]
    else:
        commands = [f"{prog()} {command} {folder}" for command in ("evaluate", "sample", "plot", "export")]
    return "next, try:\n" + "\n".join(f"  {command}" for command in commands)


def settings_of(args):
    """The run's settings: --set, then the shorthands given (--epochs, --precision, ...)."""
    settings = parse_settings(args.set)
    for key in ("epochs", *SPEED_FLAGS):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    return settings


def check(args):
    """Names, settings and folders, before TensorFlow: the entry and every setting (resolved as
    the run will be), the dataset name, --out; or with --resume, the run folder (a folder of
    runs is refused with their list: resuming the wrong one would be harmful)."""
    from keras_vae.data import datasets
    from keras_vae.runner import runs
    from keras_vae.runner.config import resolve

    if args.resume:
        if (
            args.name
            or args.set
            or args.out
            or args.seed is not None
            or any(getattr(args, key) is not None for key in SPEED_FLAGS)
        ):
            raise UserError(
                "--resume takes only --epochs, --stage (and --limit, which must match the run's): "
                "the run folder keeps its own settings"
            )
        run_dir = runs.refuse_zoo(runs.check_run_dir(args.resume))
        runs.check_writable(run_dir, "copy the run folder somewhere writable and resume the copy")
        return
    if not args.name:
        raise UserError("train needs a zoo entry NAME (see `list`) or --resume RUN_DIR")
    datasets.check_name(resolve(args.name, settings_of(args)).dataset)
    if args.out:
        runs.check_run_dir_free(args.out, args.overwrite)


def start(args):
    from keras_vae.runner import train

    if args.resume:
        _, run_dir = train.resume(args.resume, epochs=args.epochs, limit=args.limit, stage=args.stage)
    else:
        _, run_dir = train.train(
            args.name,
            settings_of(args),
            run_dir=args.out,
            seed=args.seed,
            overwrite=args.overwrite,
            limit=args.limit,
            stage=args.stage,
        )
    return run_dir
