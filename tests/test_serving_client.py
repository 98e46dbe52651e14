"""The TF Serving kit in export/serving/: models.config, the docker line, and the REST client
(`serve-request`) against a local stand-in for TF Serving."""

import http.server
import json
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVING = ROOT / "export" / "serving"
DECODERS = {"conv_vae": {"filters": [4, 8], "hidden_dim": 16}, "dense_vae": {"hidden_sizes": [32]}}
LATENT = 3


class StandIn:
    """A TEST FIXTURE, NOT A SERVER: answers TF Serving's documented REST predict JSON from
    `tf.saved_model.load` of the exported SavedModels (highest version, as TF Serving's default
    policy), on 127.0.0.1 only, and stops by itself after `lifetime` seconds."""

    PREDICT = re.compile(r"^/v1/models/([^/:]+):predict$")

    def __init__(self, base, lifetime=120.0):
        import tensorflow as tf

        self.signatures = {}
        for folder in Path(base).iterdir():
            versions = [int(v.name) for v in folder.iterdir() if v.name.isdigit()]
            loaded = tf.saved_model.load(str(folder / str(max(versions))))
            self.signatures[folder.name] = loaded.signatures["serving_default"]
        self.bodies = []
        self.server = http.server.HTTPServer(("127.0.0.1", 0), self.handler())
        self.server.timeout = 0.2  # handle_request returns this often to check the clock
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.deadline = time.monotonic() + lifetime
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopped.is_set() and time.monotonic() < self.deadline:
            self.server.handle_request()
        self.server.server_close()

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=5)

    def answer(self, path, body):
        """(status, JSON answer) the way TF Serving's REST API documents them."""
        import tensorflow as tf

        match = self.PREDICT.match(path)
        if not match or match.group(1) not in self.signatures:
            return 404, {"error": f"Servable not found for request: Latest({path.split('/')[-1].split(':')[0]})"}
        signature = self.signatures[match.group(1)]
        (name,) = signature.structured_input_signature[1]
        if "inputs" in body:  # columnar: {"inputs": {name: value}} or the bare value
            value = body["inputs"][name] if isinstance(body["inputs"], dict) else body["inputs"]
        elif "instances" in body:  # row: a list of values, or of {name: value}
            value = [row[name] if isinstance(row, dict) else row for row in body["instances"]]
        else:
            return 400, {"error": "Missing 'inputs' or 'instances' key"}
        outputs = {k: v.numpy().tolist() for k, v in signature(**{name: tf.constant(value, tf.float32)}).items()}
        single = next(iter(outputs.values())) if len(outputs) == 1 else None  # one output: unnamed
        if "inputs" in body:
            return 200, {"outputs": single if single is not None else outputs}
        rows = single if single is not None else [dict(zip(outputs, r)) for r in zip(*outputs.values())]
        return 200, {"predictions": rows}

    def handler(self):
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stand_in.bodies.append((self.path, body))
                status, answer = stand_in.answer(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep the test output clean
                pass

        return Handler


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The decoders models.config names, exported into one folder as the README says.

    Untrained (seeded) models suffice: the client is checked against what the Keras model computes."""
    import keras

    from keras_vae.export import export_run
    from keras_vae.runner import builder, runs
    from keras_vae.runner import config as run_config

    root = tmp_path_factory.mktemp("serving")
    keras.utils.set_random_seed(0)
    built = {}
    for entry, params in DECODERS.items():
        config = run_config.resolve(entry, {"latent_dim": LATENT, "dataset": "mnist_5k", **params})
        config = config.for_data("mnist_5k", lambda: {"image_shape": [28, 28, 1]})
        built[entry] = builder.build_from_config(config, compile=False)
        (root / entry).mkdir()
        runs.write_config(root / entry, config)
        runs.save_model(built[entry], root / entry / runs.MODEL)
        export_run(root / entry, formats="savedmodel", out=root / "exported")
    return root / "exported", built


@pytest.fixture(scope="module")
def stand_in(models):
    server = StandIn(models[0])
    yield server
    server.stop()


def test_models_config_points_at_the_export_layout(models):
    config = (SERVING / "models.config").read_text()
    entries = re.findall(r'name: "(\w+)"\s+base_path: "([^"]+)"\s+model_platform: "tensorflow"', config)
    assert [name for name, _ in entries] == [f"{entry}_decoder" for entry in DECODERS]
    assert all(path == f"/models/{name}" for name, path in entries)
    exported, _ = models
    assert sorted(p.name for p in exported.iterdir()) == sorted(name for name, _ in entries)
    readme = (SERVING / "README.md").read_text()
    docker = re.search(r"docker run .*?--model_config_file=(\S+)", readme, re.S)
    assert docker and 'source="$PWD/exported",target=/models' in docker.group(0)
    assert f'source="$PWD/export/serving/models.config",target={docker.group(1)}' in docker.group(0)
    assert "test fixture, not a server" in readme


@pytest.mark.parametrize("request_format", ["inputs", "instances"])
@pytest.mark.parametrize("entry", list(DECODERS))
def test_predict_returns_the_keras_images(models, stand_in, entry, request_format):
    from keras_vae.export import rest

    z = np.random.default_rng(1).standard_normal((5, LATENT)).astype(np.float32)
    images = rest.predict(stand_in.url, f"{entry}_decoder", z, request_format)
    path, body = stand_in.bodies[-1]
    assert path == f"/v1/models/{entry}_decoder:predict" and list(body) == [request_format]
    sent = body["inputs"]["z"] if request_format == "inputs" else body["instances"]
    assert np.array_equal(np.asarray(sent, np.float32), z)  # JSON carries float32 exactly
    expected = models[1][entry].decode(z).numpy()
    assert images.dtype == np.float32 and images.shape == expected.shape == (5, 28, 28, 1)
    assert np.max(np.abs(images - expected)) <= 1e-6


def test_serve_request_writes_the_png_grid(cli, models, stand_in, tmp_path):
    import matplotlib.image

    from keras_vae.runner import plots

    png = tmp_path / "grid.png"
    code, out, err = cli(
        "serve-request",
        "conv_vae_decoder",
        "--latent-dim",
        LATENT,
        "--url",
        stand_in.url,
        "--request-format",
        "instances",
        "--n",
        6,
        "--seed",
        2,
        "--out",
        png,
    )
    assert code == 0 and "wrote" in out, err
    z = np.random.default_rng(2).standard_normal((6, LATENT)).astype(np.float32)  # the documented latents
    assert np.array_equal(np.asarray(stand_in.bodies[-1][1]["instances"], np.float32), z)
    expected = plots.grid(models[1]["conv_vae"].decode(z).numpy())[..., 0]
    got = matplotlib.image.imread(png)[..., 0]  # through matplotlib's 256-level gray colormap
    assert got.shape == expected.shape == (2 * 29 - 1, 3 * 29 - 1)
    assert np.max(np.abs(got - expected)) <= 1.5 / 255
    assert cli("serve-request", "conv_vae_decoder", "--latent-dim", LATENT, "--url", stand_in.url, "--out", png)[0] == 2


def test_client_reports_server_errors_in_one_line(cli, stand_in, tmp_path):
    code, _, err = cli(
        "serve-request", "no_such_decoder", "--latent-dim", 3, "--url", stand_in.url, "--out", tmp_path / "a.png"
    )
    assert code == 2 and "answered 404: Servable not found" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli(
        "serve-request",
        "conv_vae_decoder",
        "--latent-dim",
        3,
        "--url",
        "http://127.0.0.1:9",
        "--timeout",
        5,
        "--out",
        tmp_path / "a.png",
    )
    assert code == 2 and "cannot reach TF Serving" in err
    assert not (tmp_path / "a.png").exists()
