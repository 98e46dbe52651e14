"""The browser page (export/web/) with one exported ONNX decoder (and its priors or sampler), served on 127.0.0.1 only.

    /              the page, WEB_DIR: index.html and its scripts (export/web/ in the repository)
    /node_modules/ onnxruntime-web's wasm build (in the repository, `npm ci` in export/web
                   installs it; a wheel ships the files the page loads)
    /model.onnx    the decoder: the run's newest ONNX export (RUN_DIR/export/, for a shipped zoo
                   entry runs/<entry>/pretrained/export/), exported first if it has none or if
                   a model of the run was saved after it
    /STAGE.onnx    each trained later stage of the run (a VQ-VAE's `prior/`, VQ-VAE-2's
                   `top_prior/` and `bottom_prior/`: PixelCNN priors), exported the same way: the
                   page samples codes with them
    /sampler.onnx  the run's fitted sampler of z, if it has one (RUN_DIR/sampler/gmm.npz, from
                   `train --resume RUN --stage sampler`: a Gaussian mixture over the training
                   codes), exported the same way (part "sampler": uniform, noise -> z); the page
                   offers its samples beside N(0, I)'s
    /priors.json   the list of those URLs, every served part but the decoder, in that order
                   (["prior.onnx"]; ["sampler.onnx"] for a VAE with a fitted sampler; [] for a
                   run with neither)

One list, not a second one for samplers: the page fetches every file listed and tells a prior
from a sampler by its metadata ("part"), as it does for files opened from disk together, so a
listed part needs no kind of its own here, and a run's parts are found in one request.

The page must come over http, not file://: browsers refuse module scripts and wasm from file://.
"""

import functools
import http.server
import json
import threading
from pathlib import Path

from keras_vae.core.errors import UserError
from keras_vae.runner import runs, stages

# The page: package data `keras_vae.web`, in the repository a symlink to the top-level export/web/
# (resolved, so that a message names export/web/); an installed wheel has its own copy, with the
# onnxruntime-web files it loads (pyproject.toml's package-data).
WEB_DIR = (Path(__file__).resolve().parents[1] / "web").resolve()
RUNTIME = Path("node_modules", "onnxruntime-web", "dist", "ort.wasm.min.mjs")
MODEL_URL = "/model.onnx"
# The fitted sampler's file (keras_vae.runner.samplers writes it; that module imports TensorFlow,
# which serve-web loads only when it has to export): a run with it serves its "sampler" part.
SAMPLER = "sampler"
SAMPLER_FILE = Path(stages.SAMPLER, "gmm.npz")
PRIORS_URL = "/priors.json"
HOST = "127.0.0.1"  # never another interface: the page is a local tool


def check_page():
    """The page and its runtime are in place: WEB_DIR/index.html and onnxruntime-web's wasm build.

    Raises:
        UserError: index.html is missing, or onnxruntime-web is not installed (`npm ci` in WEB_DIR).
    """
    if not (WEB_DIR / "index.html").is_file():
        raise UserError(f"the web page is missing: no {WEB_DIR / 'index.html'}")
    if not (WEB_DIR / RUNTIME).is_file():
        raise UserError(
            f"onnxruntime-web is not installed: run `npm ci` in {WEB_DIR} "
            "(or install the checkout again: setup.py fetches it)"
        )


def newest_export(run_dir, part="decoder"):
    """The newest ONNX export of `part` in the run's default export folder (as `export` writes
    it), or None.

    Args:
        run_dir: the run folder, a Path.
        part: the part's name, e.g. "decoder" or a stage's "prior".

    Returns:
        the Path of OUT/onnx/<entry>_<part>/N/model.onnx with the highest N, or None if there is none.

    Raises:
        UserError: `run_dir` is not a run folder.
    """
    from keras_vae.export.artifacts import EXPORT_DIR, ONNX_DIR
    from keras_vae.export.onnx import ONNX_FILE

    entry = runs.read_config(run_dir).entry or run_dir.resolve().name  # as export_run names it
    folder = runs.output_dir(run_dir) / EXPORT_DIR / ONNX_DIR / f"{entry}_{part}"
    found = [p / ONNX_FILE for p in folder.glob("*") if p.name.isdigit() and (p / ONNX_FILE).is_file()]
    return max(found, key=lambda p: int(p.parent.name), default=None)


def fitted_sampler(run_dir):
    """The run's fitted sampler file (RUN_DIR/sampler/gmm.npz), or None if it has none.

    Args:
        run_dir: the run folder, a Path.
    """
    path = run_dir / SAMPLER_FILE
    return path if path.is_file() else None


def last_saved(run_dir):
    """When a model of the run was last saved (the model, any later stage's, or its fitted
    sampler): an export made before then may not compute what the run now holds.

    Args:
        run_dir: the run folder, a Path.

    Returns:
        the newest modification time of those files, in seconds since the epoch (st_mtime), a float.

    Raises:
        UserError: the run holds no trained model.
    """
    trained = [stages.saved_file(run_dir, child.name) for child in run_dir.iterdir() if child.is_dir()]
    saved = [runs.model_file(run_dir), *trained, fitted_sampler(run_dir)]
    return max(path.stat().st_mtime for path in saved if path is not None)


def part_onnx(run_dir_or_entry, part="decoder"):
    """(path of the run's ONNX export of `part`, whether it was exported now).

    The newest export is reused unless a model of the run was saved after it; else `part` is
    exported now as ONNX (`keras_vae.export.export_run`, the next version).

    Args:
        run_dir_or_entry: a run folder, or a zoo entry name (its shipped run).
        part: the part's name, e.g. "decoder".

    Returns:
        (Path of model.onnx, bool: True if exported by this call).

    Raises:
        UserError: not a run folder, no trained model, an unknown part, or ONNX export not installed.
        ExportFailed: the export fails.
    """
    run_dir = runs.check_run_dir(run_dir_or_entry)
    found = newest_export(run_dir, part)
    if found is not None and found.stat().st_mtime >= last_saved(run_dir):
        return found, False
    from keras_vae.export import export_run  # imports TensorFlow: only when there is work
    from keras_vae.export.onnx import ONNX_FILE

    [artifact] = export_run(run_dir, formats="onnx", part=part)
    return artifact.folder / ONNX_FILE, True


def decoder_onnx(run_dir_or_entry):
    """(path of the run's ONNX decoder, whether it was exported now).

    Args:
        run_dir_or_entry: a run folder, or a zoo entry name.

    Returns:
        (Path of model.onnx, bool), as `part_onnx(run_dir_or_entry, "decoder")`.

    Raises:
        UserError, ExportFailed: as `part_onnx`.
    """
    return part_onnx(run_dir_or_entry, "decoder")


def page_parts(run_dir_or_entry):
    """{part: (ONNX path, exported now)}: the decoder, then each later stage the run has trained
    (the config's "stages": a VQ model's priors, each exported as a part of its stage's name),
    then its fitted sampler of z if it has one (RUN_DIR/sampler/gmm.npz: the "sampler" part).
    The page learns from the files' metadata what to do with them.

    Args:
        run_dir_or_entry: a run folder, or a zoo entry name.

    Returns:
        {"decoder": (Path, bool), <stage>: (Path, bool), ..., "sampler": (Path, bool)} in that
        order (`part_onnx` each).

    Raises:
        UserError, ExportFailed: as `part_onnx` (also a sampler file that does not load, or
            fits another latent size: `keras_vae.runner.samplers.attach_fitted`).
    """
    run_dir = runs.check_run_dir(run_dir_or_entry)
    parts = {"decoder": part_onnx(run_dir, "decoder")}
    for stage in runs.read_config(run_dir).stages:
        if stages.saved_file(run_dir, stage) is not None:
            parts[stage] = part_onnx(run_dir, stage)
    if fitted_sampler(run_dir) is not None:
        parts[SAMPLER] = part_onnx(run_dir, SAMPLER)
    return parts


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves WEB_DIR, the ONNX files at their URLs and PRIORS_URL; never lists a folder.

    Args:
        *args: the request, client address and server, as `http.server.SimpleHTTPRequestHandler`.
        models: {URL path: ONNX file (Path)}, e.g. {"/model.onnx": ..., "/prior.onnx": ...}, shared
            with the server (`set_models` fills it).
        **kwargs: passed on to `http.server.SimpleHTTPRequestHandler`.
    """

    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",  # module scripts must come with a JavaScript type
        ".js": "text/javascript",
        ".wasm": "application/wasm",  # needed for streaming wasm compilation
        ".onnx": "application/octet-stream",
    }

    def __init__(self, *args, models, **kwargs):
        self.models = models  # {URL path: ONNX file}
        super().__init__(*args, directory=str(WEB_DIR), **kwargs)

    def do_GET(self):
        """Answer a GET: PRIORS_URL with JSON, anything else as a file (`translate_path`).

        /priors.json answers the non-decoder URLs of `models` without the leading "/" as a JSON list
        (["prior.onnx"], ["sampler.onnx"], or []).
        """
        if self.path.split("?")[0] != PRIORS_URL:
            return super().do_GET()
        body = json.dumps([url.lstrip("/") for url in self.models if url != MODEL_URL]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def translate_path(self, path):
        """The file for URL `path`: an .onnx URL maps to its ONNX file, others into WEB_DIR.

        Args:
            path: the request's URL path, query included.

        Returns:
            a str file path; an .onnx URL not in `models` gets a path that does not exist (a 404).
        """
        url = path.split("?")[0]
        if url.endswith(".onnx"):
            return str(self.models.get(url, WEB_DIR / "no-such-part"))  # no such part: 404, not a file of the page
        return super().translate_path(path)

    def list_directory(self, path):
        """Answer 404 for a folder: the page's folders are not listed.

        Args:
            path: the folder asked for (unused).
        """
        self.send_error(404)

    def end_headers(self):
        """End the headers with Cache-Control: no-store, so a new export shows on reload."""
        self.send_header("Cache-Control", "no-store")  # a new export must show on reload
        super().end_headers()

    def log_message(self, format, *args):
        """Log nothing: one line per request would drown the URL the user needs.

        Args:
            format: `http.server`'s format string (unused).
            *args: its values (unused).
        """
        pass  # one line per request would drown the URL the user needs


def make_server(model=None, port=0, priors=None):
    """A threading HTTP server on 127.0.0.1:`port` (0: any free port), not yet serving: the page,
    the decoder `model` and the `priors` ({part: ONNX file}, each at /<part>.onnx: the priors,
    and a fitted "sampler"). Without a
    model it serves none until `set_models`: serve-web binds its port before it exports, so that
    a port in use is said before any work or file.

    Args:
        model: the decoder's ONNX file (a path), served at /model.onnx, or None.
        port: the TCP port; 0 lets the system choose (read it from `server.server_address`).
        priors: {part: ONNX file} (the decoder's other parts: priors, sampler), or None.

    Returns:
        an `http.server.ThreadingHTTPServer` bound to HOST, with `models` ({URL path: Path}).

    Raises:
        UserError: the port cannot be bound (in use, or not allowed).
    """
    models = {}  # {URL path: ONNX file}, shared with every request's Handler
    try:
        server = http.server.ThreadingHTTPServer((HOST, port), functools.partial(Handler, models=models))
    except OSError as error:
        raise UserError(f"cannot serve on {HOST}:{port}: {error.strerror or error}; choose another --port") from None
    server.daemon_threads = True
    server.models = models
    if model is not None:
        set_models(server, model, priors)
    return server


def set_models(server, model, priors=None):
    """Serve the decoder `model` at /model.onnx and each of `priors` at /<part>.onnx.

    Args:
        server: a server from `make_server`.
        model: the decoder's ONNX file (a path).
        priors: {part: ONNX file} (priors, and a fitted "sampler"), or None.
    """
    server.models.update(
        {MODEL_URL: Path(model), **{f"/{part}.onnx": Path(path) for part, path in (priors or {}).items()}}
    )


def serve(server, stop_after=None):
    """Serve until Ctrl-C, or for `stop_after` seconds.

    The server's socket is closed afterwards; Ctrl-C (KeyboardInterrupt) propagates.

    Args:
        server: a server from `make_server`.
        stop_after: seconds until it shuts down, or None to serve until interrupted.
    """
    if stop_after is not None:
        timer = threading.Timer(stop_after, server.shutdown)
        timer.daemon = True
        timer.start()
    try:
        server.serve_forever()
    finally:
        server.server_close()
