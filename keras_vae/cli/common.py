"""What every command shares: the one-line usage error, the quiet TensorFlow import, the program name."""

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path


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
