"""The browser page (export/web/) with one exported ONNX decoder, served on 127.0.0.1 only.

    /              export/web/index.html and its scripts
    /node_modules/ onnxruntime-web's wasm build (`npm ci` in export/web installs it)
    /model.onnx    the decoder: the run's newest ONNX export (RUN_DIR/export/, for a shipped zoo
                   entry runs/<entry>/pretrained/export/), exported first if it has none or if
                   the model was saved after it

The page must come over http, not file://: browsers refuse module scripts and wasm from file://.
"""

import functools
import http.server
import threading
from pathlib import Path

from keras_vae import runs
from keras_vae.errors import UserError

WEB_DIR = Path(__file__).resolve().parent.parent / "export" / "web"
RUNTIME = Path("node_modules", "onnxruntime-web", "dist", "ort.wasm.min.mjs")
MODEL_URL = "/model.onnx"
HOST = "127.0.0.1"  # never another interface: the page is a local tool


def check_page():
    if not (WEB_DIR / "index.html").is_file():
        raise UserError(f"the web page is missing: no {WEB_DIR / 'index.html'}")
    if not (WEB_DIR / RUNTIME).is_file():
        raise UserError(f"onnxruntime-web is not installed: run `npm ci` in {WEB_DIR}")


def newest_decoder(run_dir):
    """The newest ONNX decoder in the run's default export folder (as `export` writes it), or None."""
    from keras_vae.export.artifacts import EXPORT_DIR, ONNX_DIR
    from keras_vae.export.onnx import ONNX_FILE

    entry = runs.read_config(run_dir).get("entry") or run_dir.resolve().name  # as export_run names it
    folder = runs.output_dir(run_dir) / EXPORT_DIR / ONNX_DIR / f"{entry}_decoder"
    found = [p / ONNX_FILE for p in folder.glob("*") if p.name.isdigit() and (p / ONNX_FILE).is_file()]
    return max(found, key=lambda p: int(p.parent.name), default=None)


def decoder_onnx(run_dir_or_entry):
    """(path of the run's ONNX decoder, whether it was exported now)."""
    run_dir = runs.check_run_dir(run_dir_or_entry)
    model = runs.model_file(run_dir)
    found = newest_decoder(run_dir)
    if found is not None and found.stat().st_mtime >= model.stat().st_mtime:
        return found, False
    from keras_vae.export import export_run  # imports TensorFlow: only when there is work
    from keras_vae.export.onnx import ONNX_FILE

    [artifact] = export_run(run_dir, formats="onnx", part="decoder")
    return artifact.folder / ONNX_FILE, True


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",  # module scripts must come with a JavaScript type
        ".js": "text/javascript",
        ".wasm": "application/wasm",  # needed for streaming wasm compilation
        ".onnx": "application/octet-stream",
    }

    def __init__(self, *args, model, **kwargs):
        self.model = model
        super().__init__(*args, directory=str(WEB_DIR), **kwargs)

    def translate_path(self, path):
        if path.split("?")[0] == MODEL_URL:
            return str(self.model)
        return super().translate_path(path)

    def list_directory(self, path):
        self.send_error(404)

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")  # a new export must show on reload
        super().end_headers()

    def log_message(self, format, *args):
        pass  # one line per request would drown the URL the user needs


def make_server(model, port=0):
    """A threading HTTP server on 127.0.0.1:`port` (0: any free port), not yet serving."""
    try:
        server = http.server.ThreadingHTTPServer((HOST, port), functools.partial(Handler, model=Path(model)))
    except OSError as error:
        raise UserError(f"cannot serve on {HOST}:{port}: {error.strerror or error}; choose another --port") from None
    server.daemon_threads = True
    return server


def serve(server, stop_after=None):
    """Serve until Ctrl-C, or for `stop_after` seconds."""
    if stop_after is not None:
        timer = threading.Timer(stop_after, server.shutdown)
        timer.daemon = True
        timer.start()
    try:
        server.serve_forever()
    finally:
        server.server_close()
