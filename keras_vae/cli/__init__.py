"""`keras-vae COMMAND` (= `python -m keras_vae.zoo COMMAND`): one module per command, each with
`add(subparsers)`.

Bad input raises `UserError`; `main` prints it as one line and returns exit code 2. A command's
`check(args)` (set as a parser default) checks what can be checked without TensorFlow (names,
paths, settings), so a typo is answered at once; then TensorFlow is imported, unless the command
sets `tensorflow=False` (`list`), and the command runs.
"""

import errno
import logging
import sys

import keras_vae
from keras_vae.cli.common import Parser, prog
from keras_vae.core.errors import UserError
from keras_vae.core.quiet import import_tensorflow


def build_parser():
    from keras_vae.cli import catalogue, evaluate, export, judge, plot, sample, serve_request, serve_web, sweep, train

    parser = Parser(prog=prog(), description="keras_vae model zoo")
    parser.add_argument(
        "--version", action="version", version=f"keras-vae {keras_vae.__version__}", help="print the version and exit"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (catalogue, train, evaluate, sample, plot, judge, sweep, export, serve_request, serve_web):
        module.add(commands)
    return parser


# What an OS error most likely means for a command that writes its outputs.
OS_ERROR_ADVICE = {
    errno.ENOSPC: "the disk is full: free space, or write elsewhere with --out",
    errno.EROFS: "the folder is read-only: write elsewhere with --out",
    errno.EACCES: "no permission: write elsewhere with --out",
    errno.EPERM: "no permission: write elsewhere with --out",
}


def os_error_line(error):
    """One line for an OSError: the file, the OS's reason, and what to try."""
    where = f"{error.filename}: " if error.filename else ""
    advice = OS_ERROR_ADVICE.get(error.errno)
    return f"{where}{error.strerror or error}" + (f" ({advice})" if advice else "")


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s", force=True)
    try:
        if hasattr(args, "check"):
            args.check(args)
        if getattr(args, "tensorflow", True):
            import_tensorflow()
        return args.run(args) or 0
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a full disk, a read-only folder, no permission: one line, not a traceback
        print(f"error: {os_error_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"interrupted{f': {interrupt}' if str(interrupt) else ''}", file=sys.stderr)
        return 130
