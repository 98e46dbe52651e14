"""Numeric command-line options, checked as argparse parses them: a bad value is one `error:`
line and exit 2 (see cli.Parser), never a NumPy or TensorFlow traceback later."""

import argparse
import math

# Seeds go to NumPy (< 2**32), TensorFlow and stateless ops (int32 pairs), and a run adds its
# epoch count to its seed: 0..2**31 - 1 fits them all.
SEED_MAX = 2**31 - 1


def bounded(minimum=None, maximum=None, above=None):
    """An argparse action for an int or float option: value >= minimum, <= maximum, > above,
    and finite; otherwise `error: --NAME must be ...`."""
    rules = [
        f">= {minimum}" if minimum is not None and maximum is None else None,
        f"in {minimum}..{maximum}" if minimum is not None and maximum is not None else None,
        f"> {above}" if above is not None else None,
    ]
    rule = " and ".join(r for r in rules if r)

    class Bounded(argparse.Action):
        def __call__(self, parser, namespace, value, option_string=None):
            ok = math.isfinite(value)
            ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
            ok = ok and (above is None or value > above)
            if not ok:
                parser.error(f"{option_string} must be {rule}, got {value}")
            setattr(namespace, self.dest, value)

    return Bounded


def add_seed(parser, help, default=None):
    parser.add_argument("--seed", type=int, default=default, action=bounded(0, SEED_MAX), help=help)


AT_LEAST_1 = bounded(1)
AT_LEAST_0 = bounded(0)
POSITIVE = bounded(above=0)
