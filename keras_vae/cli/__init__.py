"""`keras-vae COMMAND` (= `python -m keras_vae.zoo COMMAND`): one module per command, each with
`add(subparsers)`.

Bad input raises `UserError`; `main` prints it as one line and returns exit code 2. TensorFlow is
imported before a command runs unless the command sets `tensorflow=False` (`list`).
"""

import argparse
import contextlib
import logging
import os
import sys
import tempfile
from pathlib import Path

from keras_vae.errors import UserError


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (exit 2) instead of usage + error."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence TensorFlow's native start-up logging (written to fd 2 before Python can filter it);
    replay it if the import fails, so a broken install still explains itself."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet_native_stderr():
        import tensorflow  # noqa: F401


def prog():
    """How the user called us: the `keras-vae` console script or `python -m keras_vae.zoo`."""
    return "keras-vae" if Path(sys.argv[0]).name == "keras-vae" else "python -m keras_vae.zoo"


def build_parser():
    from keras_vae.cli import catalogue, evaluate, export, plot, sample, serve_request, serve_web, sweep, train

    parser = Parser(prog=prog(), description="keras_vae model zoo")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (catalogue, train, evaluate, sample, plot, sweep, export, serve_request, serve_web):
        module.add(commands)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s", force=True)
    try:
        if getattr(args, "tensorflow", True):
            import_tensorflow()
        return args.run(args) or 0
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"interrupted{f': {interrupt}' if str(interrupt) else ''}", file=sys.stderr)
        return 130
