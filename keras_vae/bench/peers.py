"""The comparison against PyTorch peers: pythae's default MLP VAE and an eager PyTorch twin of
conv_vae, on the digits the bench trains on.

torch and pythae stay out of keras_vae's requirements: they run in whatever Python has them
(`--peers-python PATH`, e.g. a separate venv; default: this Python if it has both), through
`peer_torch.py` run by path. Every comparison runs ours and the peer's as whole processes in
turn, `repeats` pairs in alternating order, and keeps the median of each, so both see the same
load on a shared machine.
"""

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PEER_SCRIPT = Path(__file__).with_name("peer_torch.py")
DATASET = "mnist_5k"
PYTHAE_SHAPE = {"hidden_sizes": "[512]"}  # dense_vae as pythae's default MLP: 784-512-16
SHORT_RUN_EPOCHS = 30
# pythae's TrainingPipeline trains at batch 64 by default; ours runs at that batch too, so both
# take the same steps (dense_vae's own default, 32 since issue 18, takes twice as many).
PYTHAE_DEFAULT_BATCH = 64
STEADY_EPOCHS = 10
# What each short run imports before its first step, a fixed cost no setting of ours can cut:
# our training code (TensorFlow, Keras, TFP and keras_vae), and what peer_torch.py's pythae_run
# imports (torch and pythae's pipeline, model and trainer).
FRAMEWORK_IMPORTS = {
    "ours": "import keras_vae.cli.train, keras_vae.runner.train",
    "peer": "import torch; from pythae.pipelines import TrainingPipeline; from pythae.models import VAE, VAEConfig; "
    "from pythae.trainers import BaseTrainerConfig",
}


def peers_missing(python):
    """None if `python` can import torch and pythae, else why not (one line)."""
    try:
        done = subprocess.run([python, "-c", "import torch, pythae"], capture_output=True, text=True, timeout=120)
    except OSError as error:
        return f"{python} does not run ({error.strerror})"
    if done.returncode:
        return f"{python} cannot import torch and pythae ({(done.stderr.strip().splitlines() or ['?'])[-1]})"
    return None


def write_digits(path):
    """The bench's training and validation digits as DIGITS.npz for peer_torch.py."""
    from keras_vae.runner import config as run_config
    from keras_vae.runner import train

    _, data = train.load_data(run_config.resolve("dense_vae", {"dataset": DATASET}))
    np.savez(path, **{split: data.examples(split)["images"] for split in ("train", "validation")})
    return path


def run(command, out=None):
    """Wall seconds of `command` as a whole process, and the JSON it wrote to `out`."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"error: {' '.join(map(str, command[:4]))} ... failed:\n{done.stderr[-3000:]}")
    return seconds, json.loads(Path(out).read_text()) if out else {}


def steady_images_per_second(result):
    """Images/s of epoch 3 onwards (tracing and warm-up left out), as the bench's own."""
    return result["train_images"] / statistics.median(result["epoch_seconds"][2:])


def ours_steady(entry, overrides, batch, workdir):
    out = workdir / f"ours_{entry}.json"
    command = [
        sys.executable,
        "-m",
        "keras_vae.bench.entry",
        entry,
        str(out),
        "--epochs",
        str(STEADY_EPOCHS),
        "--rounds",
        "0",
        "--no-inference",
        f"--set=batch_size={batch}",
        *(f"--set={k}={v}" for k, v in overrides.items()),
    ]
    return steady_images_per_second(run(command, out)[1])


def peer_steady(python, mode, digits, batch, workdir):
    out = workdir / f"{mode}.json"
    command = [
        python,
        str(PEER_SCRIPT),
        mode,
        str(digits),
        str(out),
        "--epochs",
        str(STEADY_EPOCHS),
        "--batch",
        str(batch),
    ]
    return steady_images_per_second(run(command, out)[1])


def ours_short_run(workdir):
    folder = workdir / "short_run"
    return run(
        [
            sys.executable,
            "-m",
            "keras_vae.zoo",
            "train",
            "dense_vae",
            f"--set=dataset={DATASET}",
            f"--set=batch_size={PYTHAE_DEFAULT_BATCH}",
            "--epochs",
            str(SHORT_RUN_EPOCHS),
            "--seed",
            "0",
            "--out",
            str(folder),
            "--overwrite",
        ]
    )[0]


def peer_short_run(python, digits, workdir):
    out = workdir / "pythae_run.json"
    return run([python, str(PEER_SCRIPT), "pythae_run", str(digits), str(out), "--epochs", str(SHORT_RUN_EPOCHS)])[0]


def import_seconds(python, statement):
    """Wall seconds of a process that only runs `statement` (the interpreter's start included)."""
    return run([python, "-c", statement])[0]


def interleaved(ours, peer, repeats):
    """(median of ours, median of peer's) over `repeats` pairs, alternating which goes first."""
    values = {"ours": [], "peer": []}
    for repeat in range(repeats):
        order = [("ours", ours), ("peer", peer)]
        for name, measure in order if repeat % 2 == 0 else order[::-1]:
            values[name].append(measure())
    return statistics.median(values["ours"]), statistics.median(values["peer"]), values


def compare(python, repeats=3, batch=128):
    """[{comparison, ours, peer, ratio, ...}]: ratio > 1 is in our favour in every row."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="keras_vae_peers_") as folder:
        workdir = Path(folder)
        digits = write_digits(workdir / "digits.npz")
        ours, peer, values = interleaved(
            lambda: ours_steady("dense_vae", PYTHAE_SHAPE, batch, workdir),
            lambda: peer_steady(python, "pythae_steady", digits, batch, workdir),
            repeats,
        )
        rows.append(
            {
                "comparison": f"MLP VAE 784-512-16, steady images/s, batch {batch} (pythae's trainer)",
                "key": "pythae_steady",
                "ours": ours,
                "peer": peer,
                "ratio": ours / peer,
                "values": values,
            }
        )
        ours, peer, values = interleaved(
            lambda: ours_short_run(workdir), lambda: peer_short_run(python, digits, workdir), repeats
        )
        rows.append(
            {
                "comparison": f"{SHORT_RUN_EPOCHS} epochs start to finish, s (dense_vae; pythae default MLP VAE)",
                "key": "short_run",
                "ours": ours,
                "peer": peer,
                "ratio": peer / ours,
                "values": values,
            }
        )
        run_ours, run_peer = ours, peer
        ours, peer, values = interleaved(
            lambda: import_seconds(sys.executable, FRAMEWORK_IMPORTS["ours"]),
            lambda: import_seconds(python, FRAMEWORK_IMPORTS["peer"]),
            repeats,
        )
        rows.append(
            {
                "comparison": "importing what the 30-epoch run imports, s (TF, Keras, TFP, keras_vae; torch, pythae)",
                "key": "imports",
                "ours": ours,
                "peer": peer,
                "ratio": peer / ours,
                "values": values,
            }
        )
        rows.append(
            {
                "comparison": f"{SHORT_RUN_EPOCHS} epochs start to finish less the import, s (median less median)",
                "key": "short_run_after_import",
                "ours": run_ours - ours,
                "peer": run_peer - peer,
                "ratio": (run_peer - peer) / (run_ours - ours),
            }
        )
        ours, peer, values = interleaved(
            lambda: ours_steady("conv_vae", {}, batch, workdir),
            lambda: peer_steady(python, "torch_conv", digits, batch, workdir),
            repeats,
        )
        rows.append(
            {
                "comparison": f"conv_vae, steady images/s, batch {batch} (eager PyTorch twin)",
                "key": "torch_conv",
                "ours": ours,
                "peer": peer,
                "ratio": ours / peer,
                "values": values,
            }
        )
    return rows
