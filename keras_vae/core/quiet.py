"""Quiet libraries: TensorFlow's native start-up logging, and one known, harmless log message."""

import contextlib
import logging
import os
import sys
import tempfile


@contextlib.contextmanager
def muted(logger, text):
    """Records of `logger` whose message contains `text` are dropped inside the block.

    Args:
        logger: the name of a `logging` logger, e.g. "absl".
        text: the substring that marks the message to drop.

    Yields:
        None; the filter is removed when the block exits, also on an exception.
    """

    def keep(record):
        return text not in record.getMessage()

    target = logging.getLogger(logger)
    target.addFilter(keep)
    try:
        yield
    finally:
        target.removeFilter(keep)


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
    """Import TensorFlow without its native start-up lines (oneDNN, cudart_stub, cpu_feature_guard):
    TF_CPP_MIN_LOG_LEVEL=3 unless the user set it, and fd 2 captured during the import (only).
    Nothing happens if TensorFlow is already imported."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet_native_stderr():
        import tensorflow  # noqa: F401
