"""Drop one known, harmless log message of a library while a block runs."""

import contextlib
import logging


@contextlib.contextmanager
def muted(logger, text):
    """Records of `logger` whose message contains `text` are dropped inside the block."""

    def keep(record):
        return text not in record.getMessage()

    target = logging.getLogger(logger)
    target.addFilter(keep)
    try:
        yield
    finally:
        target.removeFilter(keep)
