"""Where artifacts go, which version they get, and all-or-nothing writing.

    OUT/<entry>_<part>/<N>/saved_model.pb, variables/   TF Serving model base path
    OUT/onnx/<entry>_<part>/<N>/model.onnx              the same versions for ONNX

One export is one version number N, shared by every artifact it writes, and never reused: the
default is one more than the highest N either format holds for those models. Everything is
written and verified in a hidden staging folder inside OUT, then renamed into place; on any
failure the staging folder (and any folder this export created) is removed.
"""

import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path

from keras_vae.core.errors import UserError
from keras_vae.export import onnx, parts, savedmodel, verify
from keras_vae.export.errors import ExportFailed
from keras_vae.runner import runs

EXPORT_DIR = "export"  # default OUT inside the run folder
ONNX_DIR = "onnx"
# format -> (writer, verifier, version folder relative to OUT); both take the version folder.
FORMATS = {
    "savedmodel": (savedmodel.write, verify.savedmodel, lambda name, n: Path(name, str(n))),
    "onnx": (onnx.write, verify.onnx_model, lambda name, n: Path(ONNX_DIR, name, str(n))),
}


@dataclasses.dataclass
class Artifact:
    """One verified artifact of an export, as `export_run` returns it.

    Args:
        format: "savedmodel" or "onnx".
        model_name: "<entry>_<part>", the TF Serving model name.
        version: the export's version number N, an int >= 1.
        folder: the version folder in OUT (OUT/<model_name>/N, or OUT/onnx/<model_name>/N), a Path.
        errors: {batch size: max abs error against the Keras model}, floats, at each of
            `keras_vae.export.verify.BATCHES` (1 and 64).
        seconds: wall time of writing and verifying it, in seconds.
    """

    format: str
    model_name: str
    version: int
    folder: Path  # the version folder
    errors: dict  # batch size -> max abs error against the Keras model
    seconds: float


def choose(value, known, flag):
    """'all' or one name from `known` -> list of names.

    Args:
        value: "all" or one of `known`.
        known: the valid names, in order.
        flag: the option's name for the message, e.g. "--format".

    Returns:
        list of str: every known name for "all", else [value].

    Raises:
        UserError: `value` is neither "all" nor in `known`.
    """
    if value == "all":
        return list(known)
    if value not in known:
        raise UserError(f"unknown {flag} {value!r}; choose from {', '.join([*known, 'all'])}")
    return [value]


def version_dirs(out, model_name):
    """The folders that hold versions of `model_name`, one per format.

    Args:
        out: OUT, a Path.
        model_name: "<entry>_<part>".

    Returns:
        [OUT/<model_name>, OUT/onnx/<model_name>] (Paths; they may not exist).
    """
    return [out / model_name, out / ONNX_DIR / model_name]


def existing_versions(out, model_name):
    """The version numbers either format holds for `model_name`.

    Args:
        out: OUT, a Path.
        model_name: "<entry>_<part>".

    Returns:
        a set of int: the all-digit folder names in `version_dirs(out, model_name)`.
    """
    return {
        int(child.name)
        for folder in version_dirs(out, model_name)
        if folder.is_dir()
        for child in folder.iterdir()
        if child.name.isdigit()
    }


def pick_version(out, model_names, version):
    """The export's version: one more than the highest taken, or `version` if it is free.

    Args:
        out: OUT, a Path.
        model_names: the "<entry>_<part>" names this export writes.
        version: an int >= 1, or None for max(taken, default 0) + 1.

    Returns:
        int >= 1, held by no format of any of `model_names`.

    Raises:
        UserError: `version` is not an int >= 1 (a bool is refused), or it exists already.
    """
    taken = set().union(*(existing_versions(out, name) for name in model_names))
    if version is None:
        return max(taken, default=0) + 1
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise UserError(f"--version must be an integer >= 1, got {version!r}")
    if version in taken:
        raise UserError(
            f"version {version} of {', '.join(model_names)} already exists in {out}; "
            f"omit --version to use {max(taken) + 1}"
        )
    return version


def check_out(out, model_names):
    """OUT and every folder an artifact goes in must be folders (or not exist yet).

    Args:
        out: OUT, a Path.
        model_names: the "<entry>_<part>" names this export writes.

    Raises:
        UserError: one of those paths is an existing file.
    """
    for path in [out, out / ONNX_DIR, *(d for name in model_names for d in version_dirs(out, name))]:
        if path.exists() and not path.is_dir():
            raise UserError(f"output path {path} is an existing file, not a folder")


def make_dirs(path, created):
    """mkdir -p that records each folder it creates, so a failed export can remove them.

    Args:
        path: the folder to create, a Path.
        created: a list; each folder created is appended, parents first.

    Raises:
        OSError: a folder cannot be created.
    """
    missing = [p for p in [path, *path.parents] if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir()
        created.append(folder)


def export_run(run_dir, formats="all", part=None, out=None, version=None):
    """Export `part` of the model in `run_dir` as `formats`; returns the verified Artifacts.

    Every input is checked before anything is written; a failed export leaves OUT as it was.
    The model is loaded with float32 compute (`parts.load_float32`); each artifact is written
    in a staging folder, verified against the Keras model (`keras_vae.export.verify`), and only
    when all are verified moved to OUT/<entry>_<part>/N and OUT/onnx/<entry>_<part>/N.

    Args:
        run_dir: a run folder, or a zoo entry name (its shipped run).
        formats: "savedmodel", "onnx" or "all".
        part: one of the parts the model declares (`export_parts()`: "decoder", "encoder", ...),
            or "all"; None for the model's `export_default` ("decoder"; td_vae: "all").
        out: OUT; default EXPORT_DIR ("export") in the run's output folder
            (`keras_vae.runner.runs.output_dir`).
        version: the version number N, an int >= 1 not yet used; None for the next free one.

    Returns:
        list of Artifact, one per part and format (parts in order, formats within each part).

    Raises:
        UserError: an unknown format or part, ONNX requested but not installed, not a run folder,
            no trained model, an OUT inside the zoo catalogue, a path in OUT that is a file, or a
            bad or taken version.
        ExportFailed: a layer does not compute in float32, an artifact fails verification, or an
            OSError while writing (nothing is kept).
    """
    formats = choose(formats, list(FORMATS), "--format")
    if "onnx" in formats:
        onnx.check_installed()
    config = runs.read_config(run_dir)
    runs.model_file(run_dir)  # a run folder without a trained model is an error before any work
    model = parts.load_float32(run_dir)
    declared = {p.name: p for p in model.export_parts()}
    part_names = choose(model.export_default if part is None else part, list(declared), "--part")
    out = runs.output_dir(run_dir, out) if out is not None else runs.output_dir(run_dir) / EXPORT_DIR
    entry = config.entry or Path(run_dir).resolve().name
    model_names = [f"{entry}_{name}" for name in part_names]
    check_out(out, model_names)
    version = pick_version(out, model_names, version)

    created, moved, done, staging = [], [], [], None
    try:
        make_dirs(out, created)
        staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out))
        for name in part_names:
            exported = parts.make_part(declared[name], config, run_dir)
            metadata = {**exported.metadata, "version": version}
            for fmt in formats:
                write, check, relative = FORMATS[fmt]
                folder = relative(exported.model_name, version)
                started = time.perf_counter()
                write(exported, staging / folder, metadata)
                errors = check(exported, staging / folder)
                seconds = time.perf_counter() - started
                done.append(Artifact(fmt, exported.model_name, version, out / folder, errors, seconds))
        for artifact in done:  # every artifact verified: move each version folder into place
            make_dirs(artifact.folder.parent, created)
            os.rename(staging / artifact.folder.relative_to(out), artifact.folder)  # never replaces a non-empty folder
            moved.append(artifact.folder)
    except BaseException as error:
        for folder in moved:
            shutil.rmtree(folder, ignore_errors=True)
        for folder in reversed(created):
            shutil.rmtree(folder, ignore_errors=True)
        if isinstance(error, OSError):
            raise ExportFailed(f"export failed, nothing kept: {error}") from error
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return done


def describe(artifact):
    """One line for the CLI: where the artifact is and how close it is to the Keras model.

    Args:
        artifact: an Artifact.

    Returns:
        a str of two lines: format, model name, version and path (the .onnx file for ONNX); the max
        abs error at each batch size and the seconds it took.
    """
    path = artifact.folder / onnx.ONNX_FILE if artifact.format == "onnx" else artifact.folder
    errors = ", ".join(f"{e:.2g} at batch {b}" for b, e in artifact.errors.items())
    return (
        f"{artifact.format:<10} {artifact.model_name} v{artifact.version}  {path}\n"
        f"           max abs error vs Keras: {errors} ({artifact.seconds:.1f} s)"
    )
