"""ONNX export: interface, onnxruntime parity with Keras, the Conv2DTranspose pads pitfall,
mixed precision, all-or-nothing failure, and the TF-free consumer in export/onnx/."""

import importlib.util
import json
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
real_find_spec = importlib.util.find_spec
TINY = {"epochs": 1, "dataset": "mnist_5k", "latent_dim": 4, "filters": [4, 8], "hidden_dim": 16}


def train_tiny(path, **extra):
    from keras_vae.runner import train

    return train.train("conv_vae", {**TINY, **extra}, run_dir=path, seed=0, limit=256, verbose=0)


def onnx_path(out, part, entry="conv_vae", version=1):
    return out / "onnx" / f"{entry}_{part}" / str(version) / "model.onnx"


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A trained conv_vae run and its ONNX export (both parts), through the Python API."""
    from keras_vae.export import export_run

    model, run_dir = train_tiny(tmp_path_factory.mktemp("onnx") / "run")
    out = run_dir.parent / "out"
    artifacts = export_run(run_dir, formats="onnx", part="all", out=out)
    return model, run_dir, out, artifacts


@pytest.mark.parametrize("part", ["decoder", "encoder"])
def test_interface_and_metadata(trained, part):
    import onnx

    _, _, out, _ = trained
    proto = onnx.load(onnx_path(out, part))
    onnx.checker.check_model(proto, full_check=True)
    assert next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    names = {"decoder": (["z"], ["images"]), "encoder": (["images"], ["z_log_var", "z_mean"])}[part]
    assert ([i.name for i in proto.graph.input], sorted(o.name for o in proto.graph.output)) == names
    for value in (*proto.graph.input, *proto.graph.output):
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        assert value.type.tensor_type.shape.dim[0].dim_param == "batch"
    metadata = {p.key: p.value for p in proto.metadata_props}
    assert metadata["entry"] == "conv_vae" and metadata["class"] == "VAE" and metadata["part"] == part
    assert json.loads(metadata["latent_dim"]) == 4 and json.loads(metadata["image_shape"]) == [28, 28, 1]
    assert metadata["dataset"] == "mnist_5k" and metadata["keras_vae_version"] and metadata["version"] == "1"


@pytest.mark.parametrize("part", ["decoder", "encoder"])
def test_onnxruntime_matches_keras(trained, part, mnist_5k, rng):
    import onnxruntime

    model, _, out, artifacts = trained
    session = onnxruntime.InferenceSession(str(onnx_path(out, part)), providers=["CPUExecutionProvider"])
    for batch in (1, 7, 64):  # the batch axis is free
        if part == "decoder":
            x = rng.standard_normal((batch, 4)).astype(np.float32)
            expected = {"images": model.decode(x).numpy()}
        else:
            x = mnist_5k.x_test[:batch]
            expected = dict(zip(("z_mean", "z_log_var"), (t.numpy() for t in model.encode(x))))
        got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {session.get_inputs()[0].name: x})))
        for name, want in expected.items():
            assert got[name].shape == want.shape and np.max(np.abs(got[name] - want)) <= 1e-5
    report = next(a for a in artifacts if a.model_name == f"conv_vae_{part}")
    assert set(report.errors) == {1, 64} and max(report.errors.values()) <= 1e-5


def test_conv_transpose_pads_pitfall(trained):
    """tf2onnx writes negative pads for a Conv2DTranspose with kernel < stride and onnxruntime
    refuses them: the zoo rejects such configs at build time and the export names the node."""
    import keras
    import onnx
    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    from keras_vae.catalogue import entries
    from keras_vae.core.errors import ConfigError
    from keras_vae.core.layers import CONV_STRIDE
    from keras_vae.export import ExportFailed
    from keras_vae.export.onnx import convert
    from keras_vae.runner import builder

    with pytest.raises(ConfigError, match="kernel_size must be >= the stride"):
        builder.build("conv_vae", compile=False, kernel_size=1)
    for entry in entries.entry_names():  # every zoo decoder keeps kernel >= stride
        for layer in builder.build(entry, compile=False).decoder.layers:
            if isinstance(layer, keras.layers.Conv2DTranspose):
                assert min(layer.kernel_size) >= max(layer.strides), (entry, layer.name)

    z = keras.Input((4, 4, 3))
    bad = keras.Model(z, keras.layers.Conv2DTranspose(2, 1, strides=CONV_STRIDE, padding="same")(z))
    serve = tf.function(lambda x: {"y": bad(x)}, input_signature=[tf.TensorSpec([None, 4, 4, 3], name="x")])
    raw, _ = tf2onnx.convert.from_function(serve, input_signature=serve.input_signature, opset=17)
    with pytest.raises(Exception, match="pads"):  # the pitfall is real
        onnxruntime.InferenceSession(raw.SerializeToString(), providers=["CPUExecutionProvider"])
    with pytest.raises(ExportFailed, match="negative pads"):
        convert(serve)

    _, _, out, _ = trained  # and the zoo's kernel-3, stride-2 decoder converted with valid pads
    nodes = [n for n in onnx.load(onnx_path(out, "decoder")).graph.node if n.op_type == "ConvTranspose"]
    pads = [list(a.ints) for n in nodes for a in n.attribute if a.name == "pads"]
    assert len(nodes) == 2 and min(min(p) for p in pads) >= 0


@pytest.mark.slow
def test_mixed_precision_model_exports_float32_graphs(tmp_path):
    import keras
    import onnx
    import tensorflow as tf

    from keras_vae.export import export_run
    from keras_vae.runner import loading

    mixed, run_dir = train_tiny(tmp_path / "run", precision="mixed_float16")
    assert mixed.decoder.layers[-1].compute_dtype == "float16"
    keras.config.set_dtype_policy("mixed_float16")  # even exported from a mixed-precision process
    try:
        artifacts = export_run(run_dir, out=tmp_path / "out")
    finally:
        keras.config.set_dtype_policy("float32")
    assert [a.format for a in artifacts] == ["savedmodel", "onnx"]
    proto = onnx.load(tmp_path / "out" / "onnx" / "conv_vae_decoder" / "1" / "model.onnx")
    weights = {t.data_type for t in proto.graph.initializer}  # float32 weights, int64 shapes
    assert onnx.TensorProto.FLOAT in weights and onnx.TensorProto.FLOAT16 not in weights
    casts = [a.i for n in proto.graph.node if n.op_type == "Cast" for a in n.attribute if a.name == "to"]
    assert onnx.TensorProto.FLOAT16 not in casts
    signature = tf.saved_model.load(str(tmp_path / "out" / "conv_vae_decoder" / "1")).signatures["serving_default"]
    graph = signature.graph.as_graph_def()
    dtypes = {
        a.type for n in [*graph.node, *(n for f in graph.library.function for n in f.node_def)] for a in n.attr.values()
    }
    assert tf.float16.as_datatype_enum not in dtypes
    # The float32 graph computes the trained weights: close to the float16 forward pass.
    z = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    float32 = loading.load_run_model(run_dir).decode(z).numpy()
    assert np.max(np.abs(signature(z=tf.constant(z))["images"].numpy() - float32)) <= 1e-6
    assert 0 < np.max(np.abs(float32 - mixed.decode(z).numpy().astype(np.float32))) < 1e-2


def test_mismatch_fails_the_export_and_keeps_nothing(trained, tmp_path, cli, monkeypatch):
    """A converter that writes wrong weights (simulated by scaling one) is caught by the parity
    check: exit 2, no ONNX file, no SavedModel from the same export, earlier versions untouched."""
    import onnx.numpy_helper

    from keras_vae.export import export_run
    from keras_vae.export import onnx as onnx_export

    _, run_dir, _, _ = trained
    out = tmp_path / "out"
    export_run(run_dir, formats="onnx", out=out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    convert = onnx_export.convert

    def corrupt(function):
        proto = convert(function)
        floats = [t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.FLOAT]
        weights = max(floats, key=lambda t: np.prod(t.dims))
        weights.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(weights) * 1.01, weights.name))
        return proto

    monkeypatch.setattr(onnx_export, "convert", corrupt)
    code, _, stderr = cli("export", run_dir, "--out", out)
    assert code == 2 and "differs from the Keras model" in stderr and len(stderr.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in out.iterdir()) == ["onnx"]  # no SavedModel, no staging folder


def test_without_the_onnx_extra_export_says_what_to_install(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(
        "importlib.util.find_spec", lambda name, *a: None if name == "tf2onnx" else real_find_spec(name, *a)
    )
    code, _, stderr = cli("export", "conv_vae", "--format", "onnx", "--out", tmp_path / "out")
    assert code == 2 and stderr == "error: ONNX export needs tf2onnx: pip install 'keras_vae[onnx]'\n"
    assert not (tmp_path / "out").exists()


def test_consumer_needs_no_tensorflow(trained, tmp_path):
    """export/onnx/decode.py in a fresh process: writes the grid of what Keras decodes, and
    neither TensorFlow nor keras_vae is ever imported."""
    import matplotlib.image

    from keras_vae.runner import plots

    model, _, out, _ = trained
    script = ROOT / "export" / "onnx" / "decode.py"
    code = (
        "import json, runpy, sys; consumer = runpy.run_path(sys.argv[1]); consumer['main'](sys.argv[2:]); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    png = tmp_path / "grid.png"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(script),
            str(onnx_path(out, "decoder")),
            "--n",
            "10",
            "--seed",
            "5",
            "--out",
            str(png),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    assert "onnxruntime" in modules
    assert not [m for m in modules if m.split(".")[0] in ("tensorflow", "keras", "keras_vae", "tf2onnx")]
    z = np.random.default_rng(5).standard_normal((10, 4)).astype(np.float32)  # the documented latents
    expected = plots.grid(model.decode(z).numpy())[..., 0]
    assert expected.shape == (3 * 29 - 1, 4 * 29 - 1)  # 10 digits: 3 rows of 4
    tiles = expected.repeat(2, 0).repeat(2, 1)  # 28-pixel digits drawn x2, as keras_vae's figures
    got = matplotlib.image.imread(png)  # 8-bit grayscale, read back in [0, 1]
    # A title band above and row labels ("1-4", "5-8", "9-10": 4 glyphs of 9 pixels) on the left,
    # 8-pixel margins: the grid sits at the bottom, 2 * 8 + 4 * 9 = 52 pixels in.
    top, left = got.shape[0] - 8 - tiles.shape[0], 52
    assert top >= 8 + 15 and got.shape[1] >= 400
    assert np.max(np.abs(got[top : top + tiles.shape[0], left : left + tiles.shape[1]] - tiles)) <= 0.5 / 255 + 1e-6
    assert (got[: top - 4] < 0.5).any()  # the title's ink
    assert (got[top:, : left - 4] < 0.5).sum() > 3 * 20  # a label beside each of the 3 rows
    assert "10 samples of" in result.stdout


@pytest.mark.parametrize("entry", sorted(p.parent.name for p in (ROOT / "zoo").glob("*/config.json")))
def test_every_zoo_entry_exports(entry, tmp_path):
    """Each zoo model exports both parts in both formats, each artifact verified against Keras,
    from a folder laid out like a shipped pretrained entry (the entry's own config.json, which
    names no entry and may leave image_shape null, beside model.keras). Untrained weights: the
    graph is what matters here. Autoencoders' encoders output `code`."""
    import onnx

    from keras_vae.export import export_run
    from keras_vae.runner import builder, runs

    folder = tmp_path / entry
    folder.mkdir()
    shutil.copy(ROOT / "zoo" / entry / "config.json", folder / runs.CONFIG)
    model = builder.build(entry, compile=False, dataset="mnist_5k")
    runs.save_model(model, folder / runs.MODEL)
    artifacts = export_run(folder, part="all", out=tmp_path / "out")
    assert [(a.format, a.model_name) for a in artifacts] == [
        (f, f"{entry}_{p.name}") for p in model.export_parts() for f in ("savedmodel", "onnx")
    ]
    if any(p.name == "encoder" for p in model.export_parts()):  # not VQ or sequence models
        outputs = [o.name for o in onnx.load(artifacts[-1].folder / "model.onnx").graph.output]
        assert sorted(outputs) == (["z_log_var", "z_mean"] if len(model.encoder.outputs) == 2 else ["code"])


def test_consumer_samples_a_vq_vae_as_keras_does(tmp_path):
    """decode.py's prior loop (numpy + onnxruntime on the exported PixelCNN) draws the codes that
    `PixelCNN.sample_from_uniforms` draws from the same uniforms, and the exported decoder turns
    them into the Keras model's images."""
    import onnxruntime

    from keras_vae.catalogue.entries import read_entry
    from keras_vae.export import export_run
    from keras_vae.runner import builder, runs
    from keras_vae.runner import config as run_config

    model = builder.build("vq_vae", compile=False, dataset="mnist_5k", **read_entry("vq_vae")["test_overrides"])
    prior = model.stage_model("prior")
    model.attach("prior", prior)
    folder = tmp_path / "run"
    (folder / "prior").mkdir(parents=True)
    runs.write_config(
        folder, run_config.resolve("vq_vae", {"dataset": "mnist_5k", **read_entry("vq_vae")["test_overrides"]})
    )
    runs.save_model(model, folder / runs.MODEL)
    runs.save_model(prior, folder / "prior" / runs.MODEL)
    export_run(folder, formats="onnx", part="all", out=tmp_path / "out")
    consumer = runpy.run_path(str(ROOT / "export" / "onnx" / "decode.py"))
    session = {
        part: onnxruntime.InferenceSession(str(onnx_path(tmp_path / "out", part, "vq_vae")))
        for part in ("decoder", "prior")
    }
    uniforms = np.random.default_rng(7).random((6, 49), dtype=np.float32)
    codes = consumer["sample_codes"](session["prior"], uniforms)
    np.testing.assert_array_equal(codes, prior.sample_from_uniforms(uniforms).numpy())
    assert len(np.unique(codes)) > 1  # the draws are not all one code
    (images,) = session["decoder"].run(["images"], {"codes": codes})
    np.testing.assert_allclose(images, model.decode_codes(codes).numpy(), atol=1e-5)


@pytest.mark.parametrize("damage", ["truncated", "newer_ir", "missing", "not_a_decoder"])
def test_the_consumer_on_a_bad_file_says_so_in_one_line(trained, tmp_path, damage):
    import subprocess
    import sys

    import onnx

    _, _, out, _ = trained
    decoder = onnx_path(out, "decoder")
    bad = tmp_path / "model.onnx"
    if damage == "truncated":
        bad.write_bytes(decoder.read_bytes()[: decoder.stat().st_size // 2])
    elif damage == "newer_ir":
        model = onnx.load(str(decoder))
        model.ir_version = 99  # from an exporter newer than this onnxruntime
        onnx.save(model, str(bad))
    elif damage == "not_a_decoder":
        bad = onnx_path(out, "encoder")
    script = ROOT / "export" / "onnx" / "decode.py"
    result = subprocess.run(
        [sys.executable, str(script), str(bad), "--n", "2", "--out", str(tmp_path / "s.png")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    expected = {
        "truncated": "cannot load",
        "newer_ir": "IR version",
        "missing": "no such file",
        "not_a_decoder": "is not a keras_vae decoder",
    }[damage]
    assert expected in lines[0], lines[0]
    assert not (tmp_path / "s.png").exists()
