"""Drop one known, harmless log message of a library while a block runs."""

import contextlib
import logging


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
