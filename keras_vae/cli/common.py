"""What every command shares: the one-line usage error, the run folder argument, the program name."""

import argparse
import sys
from pathlib import Path


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (exit 2) instead of usage + error."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def prog():
    """How the user called us: the `keras-vae` console script or `python -m keras_vae.zoo`."""
    return "keras-vae" if Path(sys.argv[0]).name == "keras-vae" else "python -m keras_vae.zoo"


def run_folder(path):
    """A command's RUN_DIR argument, checked before TensorFlow is imported: a run folder or zoo
    entry name as given, or for a folder of runs (runs/ENTRY), its latest run, said on stderr.

    Raises:
        UserError: no such run folder or zoo entry (`keras_vae.runner.runs.check_run_dir`).
    """
    from keras_vae.runner import runs

    latest = runs.latest_run(path)
    if latest is None:
        runs.check_run_dir(path)
        return path
    count = len(runs.runs_inside(path))
    print(f"{path} holds {count} run{'s' if count != 1 else ''}; using the latest, {latest}", file=sys.stderr)
    return str(latest)
