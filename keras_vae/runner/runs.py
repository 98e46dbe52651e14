"""The run folder: one layout for a fresh run and a shipped zoo entry.

    config.json       the resolved config (entry, class, params, dataset actually used, seed, ...)
    model.keras       the trained model (written when training ends)
    checkpoint.keras  the model and optimizer after the last finished epoch
    state.json        {"epoch": N, "trained_with": config}: epochs finished, written after the checkpoint
    .lock             held (an OS file lock, `training_lock`) by the process training the run
    history.json      per-epoch metrics
    logs/             TensorBoard
    prior/            a later training stage (`keras_vae.runner.stages`, such as a VQ-VAE's
                      PixelCNN prior): its own model.keras, checkpoint.keras, state.json,
                      history.json and logs/, trained on the frozen model's outputs

Every file is written to a temporary name and renamed into place, so a crash never leaves a
half-written file where a reader would look.
"""

import contextlib
import json
import math
import os
import time
from pathlib import Path

try:
    import fcntl  # POSIX; elsewhere runs are not locked
except ImportError:  # pragma: no cover
    fcntl = None

from keras_vae.core.errors import UserError

CONFIG = "config.json"
MODEL = "model.keras"
CHECKPOINT = "checkpoint.keras"
STATE = "state.json"
HISTORY = "history.json"
METRICS = "metrics.json"  # written by `evaluate`
LOGS = "logs"
PRETRAINED = "pretrained"  # inside a zoo entry folder
LOCK = ".lock"


@contextlib.contextmanager
def training_lock(run_dir):
    """Hold the run's lock while the block trains it: a second process that tries to train the
    same run (a `train --resume` of it, an `--overwrite` of it) is refused in one line naming the
    process that holds it.

    The lock is `fcntl.flock` on RUN_DIR/.lock, which the kernel releases when its process ends,
    however it ends (a killed process leaves no stale lock; the file itself stays, harmlessly).

    Args:
        run_dir: an existing run folder.

    Raises:
        UserError: another process holds the lock, or the folder cannot be written (a read-only
            folder: train into another with --out, or resume a writable copy).
    """
    path = Path(run_dir) / LOCK
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise UserError(
            f"cannot write to {run_dir} ({error.strerror}): copy the run folder somewhere writable "
            "and resume the copy, or train into another folder with --out"
        ) from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(descriptor, 200, 0).decode(errors="replace").strip() or "another process"
                raise UserError(
                    f"{run_dir} is being trained by {holder}; wait for it to end (or stop it), then --resume it"
                ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"process {os.getpid()} (since {time.strftime('%Y-%m-%d %H:%M:%S')})".encode(), 0)
        yield
    finally:
        os.close(descriptor)


class WriteError(UserError):
    """A file of the run could not be written: a full disk, a folder without permission, a
    read-only mount. Nothing half-written is left in its place (`atomic`).

    Args:
        path: the file that was being written.
        error: the OSError.
    """

    def __init__(self, path, error):
        self.path = Path(path)
        self.reason = error.strerror or str(error)
        super().__init__(f"cannot write {self.path} ({self.reason}); nothing half-written is left")


@contextlib.contextmanager
def atomic(path):
    """Yield a temporary sibling of `path` (same suffix) to write; rename it into place on success,
    remove it on failure.

    Raises:
        WriteError: the OS refused the write (ENOSPC, EACCES, EROFS, ...).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as error:
        raise WriteError(path, error) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def write_text(path, text):
    with atomic(path) as tmp:
        tmp.write_text(text)


def write_json(path, data):
    """Write `data` as strict JSON; a NaN or infinity (which JSON cannot hold) is a UserError that
    names the first such value, and nothing is written."""
    if (where := non_finite(data)) is not None:
        raise UserError(f"refusing to write {path}: {where or 'the value'} is not finite (NaN or inf)")
    write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def non_finite(data, where=""):
    """The key path ('history[3].loss') of the first NaN or infinity in `data`, or None."""
    if isinstance(data, float):
        return None if math.isfinite(data) else where
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, (list, tuple)) else ()
    for key, value in items:
        found = non_finite(value, f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]")
        if found is not None:
            return found.lstrip(".")
    return None


def read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"missing {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"corrupt {path}: {error}") from None


def save_model(model, path, include_optimizer=True):
    """Save atomically; without the optimizer the file is about a third of the size (for a
    finished model that is evaluated, sampled or exported rather than trained further)."""
    if not include_optimizer:
        model = without_optimizer(model)
    with atomic(path) as tmp:
        model.save(tmp)


def write_checkpoint(folder, model, history, state):
    """The checkpoint, history.json and state.json of a finished epoch, each written whole to a
    temporary file first and renamed into place in that order only once all three are written:
    state.json, which says which epoch the checkpoint holds, is never behind the checkpoint by
    more than the two renames between them (a kill used to land between the checkpoint and a
    state.json still being written, and a resume then trained that epoch's steps twice).

    Raises:
        UserError: a NaN or infinity in history or state (nothing is written).
        WriteError: the OS refused a write (nothing is renamed).
    """
    folder = Path(folder)
    for data, path in ((history, folder / HISTORY), (state, folder / STATE)):
        if (where := non_finite(data)) is not None:
            raise UserError(f"refusing to write {path}: {where or 'the value'} is not finite (NaN or inf)")
    # Entered last, renamed first: the checkpoint, then history.json, then state.json.
    with atomic(folder / STATE) as state_tmp, atomic(folder / HISTORY) as history_tmp:
        with atomic(folder / CHECKPOINT) as checkpoint_tmp:
            model.save(checkpoint_tmp)
            history_tmp.write_text(json.dumps(history, indent=2, allow_nan=False) + "\n")
            state_tmp.write_text(json.dumps(state, indent=2, allow_nan=False) + "\n")


def without_optimizer(model):
    """An uncompiled copy of `model` with the same config and weights."""
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def looks_like_path(text):
    """Whether a RUN_DIR argument means a folder (never a zoo entry name to suggest)."""
    return "/" in text or os.sep in text or text.startswith(".") or Path(text).exists()


def check_run_dir(run_dir):
    """The run folder `run_dir`, or for a zoo entry name, the run folder it ships (pretrained).

    Raises:
        UserError: a path that does not exist or is not a run folder (a folder of runs, such as
            runs/ENTRY, is told which runs it holds; `latest_run` picks one), or a name that is
            not a zoo entry with shipped weights.
    """
    given, run_dir = str(run_dir), Path(run_dir)  # as given: Path("./x") is "x"
    if not run_dir.is_dir() and looks_like_path(given):
        raise UserError(
            f"{run_dir} is a file, not a run folder" if run_dir.exists() else f"run folder not found: {given}"
        )
    if not run_dir.is_dir():
        run_dir = pretrained_dir(given)
    if not (run_dir / CONFIG).is_file():
        inside = runs_inside(run_dir)
        if inside:
            raise UserError(
                f"{run_dir} is not a run folder but holds {len(inside)} runs; pass one of them: "
                + ", ".join(str(p) for p in inside)
            )
        raise UserError(f"{run_dir} is not a run folder (no {CONFIG})")
    return run_dir


def runs_inside(folder):
    """The run folders directly inside `folder` (such as runs/ENTRY), oldest first: by name, since
    a run folder is named by its start time (runs/ENTRY/YYYYmmdd-HHMMSS). None in a zoo catalogue."""
    folder = Path(folder)
    if not folder.is_dir() or is_catalogue(folder.resolve()):
        return []
    return sorted(p.parent for p in folder.glob(f"*/{CONFIG}"))


def latest_run(folder):
    """The newest run inside `folder` that holds a trained model (a run stopped before its first
    checkpoint does not count) if `folder` is a folder of runs (not a run folder itself), else
    None; the newest run of all when none holds a model."""
    inside = [] if (Path(folder) / CONFIG).is_file() else runs_inside(folder)
    trained = [run for run in inside if (run / MODEL).is_file() or (run / CHECKPOINT).is_file()]
    return (trained or inside)[-1] if inside else None


def pretrained_dir(entry):
    """zoo/<entry>/pretrained: a shipped entry's trained run, in the layout of any run folder."""
    from keras_vae.catalogue.entries import closest, entry_names, zoo_dir

    if entry not in entry_names():
        raise UserError(f"run folder not found: {entry} (nor is it a zoo entry name{closest(entry, entry_names())})")
    folder = zoo_dir() / entry / PRETRAINED
    if not (folder / MODEL).is_file():
        raise UserError(
            f"zoo entry {entry!r} ships no trained weights; train it: python -m keras_vae.zoo train {entry}"
        )
    return folder


def is_catalogue(folder):
    """Whether `folder` is a zoo catalogue: the one in use, or a copy of one (the checkout's
    zoo/ beside an installed keras_vae): a package of entry folders that ship trained weights."""
    from keras_vae.catalogue.entries import zoo_dir

    if folder == zoo_dir().resolve():
        return True
    return (folder / "__init__.py").is_file() and any(folder.glob(f"*/{PRETRAINED}/{MODEL}"))


def refuse_zoo(path):
    """`path`, unless it lies inside a zoo catalogue, which commands never write into."""
    path = Path(path)
    for folder in (path.resolve(), *path.resolve().parents):
        if is_catalogue(folder):
            raise UserError(
                f"{path} is inside the zoo catalogue {folder}, which is never written into; choose another folder"
            )
    return path


def check_run_dir_free(run_dir, overwrite=False):
    """An existing non-empty folder is replaced only with overwrite, and only if it is a run
    folder, so a mistyped --out never empties an unrelated directory."""
    run_dir = refuse_zoo(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{run_dir} exists and is not a folder")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if not overwrite:
            raise UserError(f"{run_dir} already exists; pass --overwrite to replace it, or --resume it")
        if not (run_dir / CONFIG).is_file():
            raise UserError(f"{run_dir} is not a run folder; refusing to overwrite it")


def check_writable(folder, advice):
    """`folder` (existing or to be made) can be written, before any work that would write there:
    else one UserError line saying why (a read-only file system, or no permission) and `advice`.

    Args:
        folder: the destination folder.
        advice: what to do instead, e.g. "write elsewhere with --out".
    """
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.absolute().parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise UserError(f"cannot write to {folder}: {existing} is a file, not a folder")
    if existing is None or os.access(existing, os.W_OK | os.X_OK):
        return folder
    read_only = hasattr(os, "statvfs") and bool(os.statvfs(existing).f_flag & getattr(os, "ST_RDONLY", 1))
    reason = "a read-only file system" if read_only else "no permission to write there"
    raise UserError(f"cannot write to {folder} ({reason}): {advice}")


def output_dir(run_dir, out=None):
    """Where a command writes what it makes of `run_dir`: `out` when given, else the run folder;
    a shipped zoo entry (maybe in site-packages) is never written into, so its outputs go to
    runs/<entry>/pretrained under the current folder."""
    if out is not None:
        return refuse_zoo(out)
    run_dir = check_run_dir(run_dir)
    from keras_vae.catalogue.entries import zoo_dir

    if run_dir.resolve().is_relative_to(zoo_dir().resolve()):
        return Path("runs") / run_dir.parent.name / PRETRAINED
    return run_dir


def metrics_path(run_dir):
    """RUN_DIR/metrics.json; for a shipped zoo entry, under runs/ (zoo/ is never written)."""
    return output_dir(run_dir) / METRICS


def check_metrics_free(path, overwrite=False):
    """An existing metrics.json (minutes of IWAE, or another dataset's) is replaced only with
    overwrite."""
    if path.exists() and not overwrite:
        old = read_json(path)
        bound = f", IWAE k={old['iwae_k']}" if old.get("iwae_k") else ""
        raise UserError(
            f"{path} exists ({old.get('dataset')}, {old.get('split_examples')} test images{bound}); "
            "pass --overwrite (in Python: overwrite=True) to replace it"
        )


def read_config(run_dir):
    """The run's config.json as a frozen `keras_vae.runner.config.RunConfig` (any version's)."""
    from keras_vae.runner.config import RunConfig

    return RunConfig.from_json(read_json(check_run_dir(run_dir) / CONFIG))


def write_config(run_dir, config):
    """Write `config` (a RunConfig) as the run's config.json."""
    write_json(Path(run_dir) / CONFIG, config.to_json())


def model_file(run_dir):
    """The final model, or the last checkpoint of an unfinished run."""
    run_dir = check_run_dir(run_dir)
    for name in (MODEL, CHECKPOINT):
        if (run_dir / name).is_file():
            return run_dir / name
    raise UserError(f"{run_dir} holds no trained model ({MODEL} or {CHECKPOINT})")


def load_model(path):
    """A saved keras_vae model; a corrupt file is a UserError, not a traceback."""
    import keras

    import keras_vae.models  # noqa: F401  (importing the families registers every class)

    try:
        model = keras.models.load_model(path)
    except Exception as error:  # zip, h5 and config errors all mean the same thing here
        raise UserError(f"cannot load {path}: {type(error).__name__}: {error}") from None
    if not model.compiled:  # a finished model is saved without its optimizer; evaluate needs one
        model.compile(optimizer="adam")
    return model


def epochs_done(folder):
    """Epochs finished in a run or stage folder (0 before the first checkpoint)."""
    return read_json(Path(folder) / STATE)["epoch"] if (Path(folder) / STATE).is_file() else 0


def suffix(**settings):
    """The part of a file name that says the settings it was drawn with: "_seed1_n64" for
    suffix(seed=1, n=64); a None setting is left out, "/" and ":" in a value become "-"."""
    parts = [f"{key}{value}" for key, value in settings.items() if value is not None]
    text = "".join(f"_{part}" for part in parts)
    return text.replace("/", "-").replace(":", "-").replace(" ", "")
