"""The browser page (export/web/) and `serve-web`: Debian's headless Chromium, driven by
Playwright, decodes latents with onnxruntime-web (wasm) into the pixels onnxruntime gives in Python;
bad decoder files and bad latent vectors show a readable error on the page."""

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.web_page import (  # noqa: F401
    NEEDS_BROWSER,
    NEEDS_NPM,
    ROOT,
    TOLERANCE,
    browser,
    check_samples,
    decode,
    error_text,
    onnxruntime_images,
    open_page,
    page_uniforms,
    pixel_error,
    pixels,
    sample_zs,
    sampled,
    screenshot,
    serve_run,
    serve_web,
    settled,
    vq_run,
    wait_for_error,
)


def scaled_run(folder, latent_dim, entry="conv_vae", **params):
    """An untrained `entry` (conv_vae by default) in the layout of a shipped entry (config.json +
    model.keras), its decoder kernels scaled x3 so that images span [0, 1] and change with z: a
    model trained for a few seconds decodes every z to the same flat grey, which would hide a
    misplaced pixel."""
    import keras

    from keras_vae.runner import builder, runs
    from keras_vae.runner import config as run_config

    keras.utils.set_random_seed(0)
    params = {"latent_dim": latent_dim, "filters": [4, 8], "hidden_dim": 16, "dataset": "mnist_5k", **params}
    model = builder.build(entry, compile=False, **params)
    for weight in model.decoder.weights:
        if "kernel" in weight.path:
            weight.assign(weight * 3)
    folder.mkdir(parents=True)
    runs.write_config(folder, run_config.resolve(entry, {"dataset": "mnist_5k"}))  # as train() writes it
    runs.save_model(model, folder / runs.MODEL, include_optimizer=False)
    return folder


@pytest.fixture(scope="module")
def run2d(tmp_path_factory):
    return scaled_run(tmp_path_factory.mktemp("web") / "conv_vae", latent_dim=2)


@pytest.fixture(scope="module")
def served(run2d):
    """`serve-web RUN_DIR --port 0` in its own process (it exports the decoder first): the URL
    and the ONNX file it serves. The server stops by itself after 150 s, or when the tests end."""
    command = [sys.executable, "-m", "keras_vae.zoo", "serve-web", run2d, "--port", "0", "--stop-after", "150"]
    with serve_web(command, ROOT, os.environ, run2d.parent / "serve-web.stderr") as process:
        printed = process["printed"]
        onnx_file = Path(printed[0].split(maxsplit=1)[1].strip())
        assert printed[0].startswith("exported") and onnx_file == run2d / "export/onnx/conv_vae_decoder/1/model.onnx"
        yield process["url"], onnx_file


@pytest.fixture(scope="module")
def run4d_exported(tmp_path_factory):
    """A conv_vae with a 4-D latent space trained for one epoch, both parts exported to ONNX."""
    from keras_vae.export import export_run
    from keras_vae.runner import train

    folder = tmp_path_factory.mktemp("web4")
    params = {"epochs": 1, "dataset": "mnist_5k", "latent_dim": 4, "filters": [4, 8], "hidden_dim": 16}
    _, run_dir = train.train("conv_vae", params, run_dir=folder / "run", seed=0, limit=256, verbose=0)
    export_run(run_dir, formats="onnx", part="all", out=folder / "out")
    return {part: folder / "out" / "onnx" / f"conv_vae_{part}" / "1" / "model.onnx" for part in ("decoder", "encoder")}


@pytest.fixture(scope="module")
def cvae_decoder(tmp_path_factory):
    """The ONNX decoder of an untrained, scaled conditional VAE: z [batch, 2] and labels [batch]."""
    from keras_vae.export import export_run

    folder = tmp_path_factory.mktemp("web-cvae")
    run_dir = scaled_run(folder / "cvae", latent_dim=2, entry="cvae")
    [artifact] = export_run(run_dir, formats="onnx", out=folder / "out")
    return artifact.folder / "model.onnx"


@pytest.fixture
def page(browser, served):
    yield from open_page(browser, served[0])


def z_of(page):
    """The z text box: by design, exactly the vector the page decoded last."""
    return [float(v) for v in page.input_value("#z").split(",")]


@NEEDS_NPM
@NEEDS_BROWSER
def test_browser_decodes_like_onnxruntime(page, served):
    _, onnx_file = served
    settled(page)
    assert page.get_attribute("body", "data-state") == "ready"
    assert "latent 2, images 28×28×1" in page.inner_text("#info") and page.is_hidden("#error")
    assert page.is_visible("#plane") and page.is_hidden("#sliders")

    decode(page, "0.5, -1.25")
    z = z_of(page)
    assert z == [0.5, -1.25]
    expected = onnxruntime_images(onnx_file, z)[0]
    error = pixel_error(pixels(page), expected)
    floats = np.array(page.evaluate("Array.from(kerasVae.output)"), np.float32).reshape(expected.shape)
    print(
        f"browser vs onnxruntime: max abs pixel error {error:.3g}, float error {np.max(np.abs(floats - expected)):.3g}"
    )
    assert error <= TOLERANCE and np.max(np.abs(floats - expected)) <= 1e-5
    assert np.ptp(pixels(page)) > 100  # a real image, not a flat canvas

    # The sample grid: 16 images of N(0, I) latents, each the one its z (in its title) decodes to.
    _, _, drawn = check_samples(page, onnx_file)
    assert len({d.tobytes() for d in drawn}) == 16
    screenshot(page, "decoder-explorer.png")


@NEEDS_NPM
@NEEDS_BROWSER
def test_dragging_the_point_over_the_latent_plane(page, served):
    _, onnx_file = served
    settled(page)
    before = pixels(page)
    box = page.locator("#plane").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    for step in range(1, 6):  # towards (75 %, 25 %) of the plane: right and up, z = (1.5, 1.5)
        page.mouse.move(box["x"] + box["width"] * (0.5 + 0.05 * step), box["y"] + box["height"] * (0.5 - 0.05 * step))
    page.mouse.up()
    settled(page)
    z = z_of(page)
    assert z == pytest.approx([1.5, 1.5], abs=0.03)
    assert page.evaluate("kerasVae.z") == z
    after = pixels(page)
    assert pixel_error(after, onnxruntime_images(onnx_file, z)[0]) <= TOLERANCE
    assert np.mean(np.abs(after.astype(int) - before)) > 5  # the image follows the point
    marker = page.locator("#marker").bounding_box()
    assert marker["x"] + marker["width"] / 2 == pytest.approx(box["x"] + 0.75 * box["width"], abs=3)


@NEEDS_NPM
@NEEDS_BROWSER
def test_any_decoder_opens_with_sliders_and_new_samples(page, run4d_exported):
    """A 4-D decoder from disk: the page takes its shape from the ONNX metadata alone."""
    onnx_file = run4d_exported["decoder"]
    page.set_input_files("#file", onnx_file)
    page.wait_for_function("document.body.dataset.state === 'ready' && kerasVae.decoder?.meta.latentDim === 4")
    settled(page)
    assert "latent 4, images 28×28×1" in page.inner_text("#info")
    assert page.is_hidden("#plane") and page.locator("#sliders input").count() == 4
    assert z_of(page) == [0, 0, 0, 0]

    page.eval_on_selector_all("#sliders input", "s => { s[2].value = 1.5; s[2].dispatchEvent(new Event('input')); }")
    settled(page)
    assert z_of(page) == [0, 0, 1.5, 0] and page.inner_text("#sliders output >> nth=2") == "1.50"
    assert pixel_error(pixels(page), onnxruntime_images(onnx_file, z_of(page))[0]) <= TOLERANCE

    titles = page.eval_on_selector_all("#samples canvas", "cs => cs.map(c => c.title)")
    page.click("#new-samples")
    page.wait_for_function(f"document.querySelector('#samples canvas').title !== {json.dumps(titles[0])}")
    _, new_titles, _ = check_samples(page, onnx_file)
    assert not set(new_titles) & set(titles)


@NEEDS_NPM
@NEEDS_BROWSER
def test_color_decoder(page, tmp_path):
    """RGB images of a non-square shape: channels and rows land where onnxruntime puts them."""
    from keras_vae.export import export_run

    run_dir = scaled_run(tmp_path / "rgb", latent_dim=3, image_shape=[8, 12, 3])
    [artifact] = export_run(run_dir, formats="onnx", out=tmp_path / "out")
    page.set_input_files("#file", artifact.folder / "model.onnx")
    page.wait_for_function("document.body.dataset.state === 'ready' && kerasVae.decoder?.meta.latentDim === 3")
    assert "latent 3, images 8×12×3" in page.inner_text("#info") and page.locator("#sliders input").count() == 3
    decode(page, "-0.4, 1.1, 2")
    drawn = pixels(page, channels=3)
    assert drawn.shape == (8, 12, 3) and np.ptp(drawn.astype(int)[..., 0] - drawn[..., 2]) > 20  # really colour
    assert pixel_error(drawn, onnxruntime_images(artifact.folder / "model.onnx", [-0.4, 1.1, 2])[0]) <= TOLERANCE


@NEEDS_NPM
@NEEDS_BROWSER
def test_bad_input_shows_a_readable_error(page, served, run4d_exported, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    settled(page)
    page.fill("#z", "1, 2, 3")
    page.press("#z", "Enter")
    assert "has 3 values, but this decoder takes 2" in error_text(page)
    assert page.get_attribute("#z", "aria-invalid") == "true" and "stale" in page.get_attribute("#view", "class")
    page.fill("#z", "0.1, x")
    page.press("#z", "Enter")
    assert '"x" in z is not a number' in error_text(page)
    decode(page, "0.1, 0.2")  # a good vector clears the error
    assert page.is_hidden("#error") and z_of(page) == [0.1, 0.2]

    plain = helper.make_model(
        helper.make_graph(  # an ONNX decoder-shaped graph without keras_vae metadata
            [helper.make_node("Identity", ["z"], ["images"])],
            "plain",
            [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 2])],
            [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 2])],
        )
    )
    onnx.save(plain, tmp_path / "plain.onnx")
    (tmp_path / "digits.onnx").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    cases = [
        (tmp_path / "plain.onnx", "plain.onnx is not a keras_vae export: its ONNX metadata has no keras_vae_version"),
        (run4d_exported["encoder"], "model.onnx is the encoder of conv_vae, not a decoder"),
        (tmp_path / "digits.onnx", "digits.onnx is not an ONNX model file"),
    ]
    for path, message in cases:
        page.set_input_files("#file", path)
        wait_for_error(page, message)
        assert page.is_visible("#error")
        assert page.is_hidden("#panels")  # the message, not blank canvases
    screenshot(page, "decoder-explorer-error.png")

    page.goto(served[0] + "?model=missing.onnx")
    assert "Could not load missing.onnx: HTTP 404" in error_text(page)
    page.goto((ROOT / "export" / "web" / "index.html").as_uri())
    assert "Open this page over http, not from a file" in error_text(page)


@NEEDS_NPM
def test_serve_web_reuses_a_current_export_and_exports_a_newer_model(served, run2d):
    from keras_vae.export import web

    _, first = served
    assert web.decoder_onnx(run2d) == (first, False)  # the export serve-web made, still current
    now = time.time()
    os.utime(first, (now - 100, now - 100))
    os.utime(run2d / "model.keras", (now - 50, now - 50))  # the model was saved again since
    path, exported = web.decoder_onnx(run2d)
    assert exported and path == run2d / "export/onnx/conv_vae_decoder/2/model.onnx"
    assert web.decoder_onnx(run2d) == (path, False)


def test_an_entry_name_serves_its_shipped_weights_and_writes_nothing_into_the_zoo(tmp_path, monkeypatch):
    """serve-web ENTRY: zoo/<entry>/pretrained is exported under runs/<entry>/pretrained."""
    from keras_vae.export import web

    zoo = tmp_path / "zoo"
    scaled_run(zoo / "conv_vae" / "pretrained", latent_dim=2)
    (zoo / "conv_vae" / "config.json").write_text((ROOT / "zoo" / "conv_vae" / "config.json").read_text())
    shipped = sorted(zoo.rglob("*"))
    monkeypatch.setenv("KERAS_VAE_ZOO", str(zoo))
    monkeypatch.chdir(tmp_path)
    path, exported = web.decoder_onnx("conv_vae")
    assert exported and path == Path("runs/conv_vae/pretrained/export/onnx/conv_vae_decoder/1/model.onnx")
    assert path.is_file() and sorted(zoo.rglob("*")) == shipped
    assert web.decoder_onnx("conv_vae") == (path, False)


@NEEDS_NPM
def test_serve_web_bad_input(cli, run2d, tmp_path, monkeypatch):
    from keras_vae.export import web

    code, _, stderr = cli("serve-web", tmp_path / "nowhere")
    assert code == 2 and "run folder not found" in stderr and len(stderr.strip().splitlines()) == 1
    code, _, stderr = cli("serve-web", run2d, "--port", "70000")
    assert code == 2 and "--port must be in 0..65535" in stderr

    with socket.socket() as taken:  # a port in use: one line, exit 2, nothing served
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        fresh = scaled_run(tmp_path / "fresh" / "conv_vae", latent_dim=2)  # not yet exported
        code, _, stderr = cli("serve-web", fresh, "--port", port, "--stop-after", "5")
    assert code == 2 and f"cannot serve on 127.0.0.1:{port}" in stderr and len(stderr.strip().splitlines()) == 1
    assert not (fresh / "export").exists()  # the port is tried before the export, which leaves files

    server = web.make_server(run2d / "model.keras")
    assert server.server_address[0] == "127.0.0.1"  # never another interface
    server.server_close()

    (tmp_path / "page").mkdir()
    (tmp_path / "page" / "index.html").write_text("<!doctype html>")
    monkeypatch.setattr(web, "WEB_DIR", tmp_path / "page")
    code, _, stderr = cli("serve-web", run2d)
    assert code == 2 and "onnxruntime-web is not installed: run `npm ci`" in stderr


def pick_label(page, value, how="select"):
    """Pick a label with the <select>, or through the test hook (kerasVae.label = value)."""
    if how == "select":
        page.select_option("#label", str(value))
    else:
        page.evaluate("v => { kerasVae.label = v; }", value)
    settled(page)


@NEEDS_NPM
@NEEDS_BROWSER
def test_label_picker_for_a_conditional_decoder(page, served, cvae_decoder):
    """A cvae decoder (z and int32 labels): the picker's label reaches onnxruntime-web with z,
    and the explorer, the samples and the plane are decoded again when it changes."""
    settled(page)  # the served conv_vae: no label input, no picker
    assert page.is_hidden("#conditions") and page.locator("#label").count() == 0
    assert page.evaluate("kerasVae.label") is None and page.evaluate("kerasVae.labels") == {}

    page.set_input_files("#file", cvae_decoder)
    page.wait_for_function("document.body.dataset.state === 'ready' && kerasVae.decoder?.meta.entry === 'cvae'")
    settled(page)
    assert "latent 2 + labels (10 classes), images 28×28×1" in page.inner_text("#info")
    assert page.is_visible("#label") and page.is_visible("#plane") and page.is_hidden("#error")
    assert page.eval_on_selector_all("#label option", "os => os.map(o => o.value)") == [str(c) for c in range(10)]
    assert page.input_value("#label") == "0" and page.evaluate("kerasVae.label") == 0

    decode(page, "0.5, -1.25")
    z = z_of(page)
    label0 = pixels(page)
    assert pixel_error(label0, onnxruntime_images(cvae_decoder, z, label=0)[0]) <= TOLERANCE
    corner = [0, 0, 28, 28]  # the plane's top-left tile: z = (-2.7, 2.7) (10 x 10 tiles over [-3, 3]^2)
    tile0 = pixels(page, "#manifold", box=corner)
    assert pixel_error(tile0, onnxruntime_images(cvae_decoder, [-2.7, 2.7], label=0)[0]) <= TOLERANCE
    zs, titles = sample_zs(page)
    assert all(t.endswith(" | labels = 0") for t in titles)

    pick_label(page, 7)
    assert page.evaluate("kerasVae.label") == 7 and page.evaluate("kerasVae.labels") == {"labels": 7}
    assert z_of(page) == z  # the same z, decoded for the new label
    label7 = pixels(page)
    expected = onnxruntime_images(cvae_decoder, z, label=7)[0]
    floats = np.array(page.evaluate("Array.from(kerasVae.output)"), np.float32).reshape(expected.shape)
    error = pixel_error(label7, expected)
    print(f"cvae, label 7: max abs pixel error {error:.3g}, float error {np.max(np.abs(floats - expected)):.3g}")
    assert error <= TOLERANCE and np.max(np.abs(floats - expected)) <= 1e-5
    assert np.mean(np.abs(label7.astype(int) - label0)) > 5  # the label changes the picture
    tile7 = pixels(page, "#manifold", box=corner)  # and the plane behind the point
    assert pixel_error(tile7, onnxruntime_images(cvae_decoder, [-2.7, 2.7], label=7)[0]) <= TOLERANCE
    assert np.mean(np.abs(tile7.astype(int) - tile0)) > 5

    new_zs, titles, _ = check_samples(page, cvae_decoder, label=7)  # the same samples, decoded for label 7
    assert np.array_equal(new_zs, zs) and all(t.endswith(" | labels = 7") for t in titles)
    screenshot(page, "decoder-explorer-cvae.png")

    pick_label(page, 3, how="hook")  # the test hook moves the picker too
    assert page.input_value("#label") == "3"
    assert pixel_error(pixels(page), onnxruntime_images(cvae_decoder, z, label=3)[0]) <= TOLERANCE
    page.evaluate("kerasVae.label = 10")
    assert "labels = 10 is not one of this decoder's classes 0..9" in error_text(page)
    assert page.evaluate("kerasVae.label") == 3

    page.set_input_files("#file", served[1])  # back to an unconditional decoder: no picker
    page.wait_for_function("document.body.dataset.state === 'ready' && kerasVae.decoder?.meta.entry === 'conv_vae'")
    settled(page)
    assert page.is_hidden("#conditions") and page.evaluate("kerasVae.label") is None and page.is_hidden("#error")
    assert pixel_error(pixels(page), onnxruntime_images(served[1], [0, 0])[0]) <= TOLERANCE


def without_inputs_metadata(onnx_file, out):
    """The ONNX file as exports before the "inputs" metadata wrote it: latent_dim and image_shape only."""
    import onnx

    model = onnx.load(onnx_file)
    kept = [(p.key, p.value) for p in model.metadata_props if p.key not in ("inputs", "outputs")]
    del model.metadata_props[:]
    for key, value in kept:
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, out)
    return out


@NEEDS_NPM
@NEEDS_BROWSER
def test_older_exports_without_inputs_metadata(page, served, cvae_decoder, tmp_path):
    """An export without "inputs" in its metadata is taken as z [latent_dim] -> images; a
    conditional one then does not match its graph, and the page says so."""
    old = without_inputs_metadata(served[1], tmp_path / "old.onnx")
    page.set_input_files("#file", old)
    page.wait_for_function("document.body.dataset.state === 'ready' && kerasVae.decoder?.name === 'old.onnx'")
    decode(page, "-1, 0.75")
    assert page.is_hidden("#conditions") and page.is_hidden("#error")
    assert pixel_error(pixels(page), onnxruntime_images(old, [-1, 0.75])[0]) <= TOLERANCE

    page.set_input_files("#file", without_inputs_metadata(cvae_decoder, tmp_path / "old-cvae.onnx"))
    message = (
        "does not have the decoder interface its keras_vae metadata declares, z -> images (it has z, labels -> images)"
    )
    wait_for_error(page, message)
    assert page.is_hidden("#panels") and page.is_hidden("#conditions")


# -- a VQ-VAE: codes sampled from its prior in the browser ---------------------------------------


@pytest.fixture(scope="module")
def vq_served(tmp_path_factory):
    """The run, its model, the ONNX parts the page uses ({part: path}, exported as serve-web
    does) and the page's URL, served in-process (serve-web's own process is tested above)."""
    with serve_run(*vq_run(tmp_path_factory.mktemp("web-vq") / "vq_vae")) as served:
        files = served["files"]
        assert (
            list(files) == ["decoder", "prior"]
            and files["prior"] == served["run"] / "export/onnx/vq_vae_prior/1/model.onnx"
        )
        yield served


@pytest.fixture
def vq_page(browser, vq_served):
    yield from open_page(browser, vq_served["url"], height=900)


def inverse_cdf(logits, u):
    """PixelCNN.sample_from_uniforms's rule for logits [n, K] float32 and u [n]: the number of k
    with cumsum(softmax(logits))[k] <= u, at most K - 1; float32, summed in prior-loop.js's order so
    that the same logits give the same codes bit for bit."""
    e = np.exp((logits - logits.max(-1, keepdims=True)).astype(np.float64)).astype(np.float32)
    total = np.zeros(len(u), np.float32)
    for k in range(e.shape[1]):
        total += e[:, k]
    cdf, below = np.zeros(len(u), np.float32), np.zeros(len(u), np.int32)
    for k in range(e.shape[1]):
        cdf += e[:, k] / total
        below += cdf <= u
    return np.minimum(below, e.shape[1] - 1)


def onnxruntime_prior_codes(prior_file, uniforms):
    """The caller's loop over the ONNX prior in onnxruntime: codes [n, h, w], position by
    position in raster order, position i from uniforms[:, i]."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(prior_file), providers=["CPUExecutionProvider"])
    grid = session.get_inputs()[0].shape[1:]
    codes = np.zeros((len(uniforms), *grid), np.int32)
    for i in range(int(np.prod(grid))):
        at = np.unravel_index(i, grid)
        logits = session.run(["logits"], {"codes": codes})[0]
        codes[(slice(None), *at)] = inverse_cdf(logits[(slice(None), *at)], uniforms[:, i])
    return codes


def onnxruntime_decode_codes(decoder_file, codes):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(decoder_file), providers=["CPUExecutionProvider"])
    return session.run(["images"], {"codes": np.asarray(codes, np.int32)})[0]


@NEEDS_NPM
@NEEDS_BROWSER
def test_vq_vae_samples_its_prior_in_the_browser(vq_page, vq_served):
    """The page runs the prior's autoregressive loop in onnxruntime-web with seeded uniforms and
    decodes the codes: the same codes as onnxruntime in Python (and as the Keras model's
    PixelCNN.sample_from_uniforms, the definition of record) with the same uniforms, and the
    same images."""
    page, files = vq_page, vq_served["files"]
    settled(page)
    assert page.get_attribute("body", "data-state") == "ready" and page.is_hidden("#error")
    assert "codes 7×7 of 8 + prior v1, images 28×28×1" in page.inner_text("#info")
    assert page.is_hidden("#plane") and page.is_hidden("#sliders") and page.is_hidden("#new-samples")
    assert page.is_visible("#seed") and page.is_visible("#sample") and page.inner_text("#z-label") == "codes ="
    assert (
        page.evaluate("import('./images.js').then(m => Array.from(m.uniforms(6, 7)))")
        == page_uniforms(1, 6, 7)[0].tolist()
    )  # the Python PRNG is the page's

    sampled(page, 7)
    drawn = page.evaluate("({codes: kerasVae.samples.codes, images: Array.from(kerasVae.samples.images)})")
    n, positions = 16, 49
    uniforms = page_uniforms(n, positions, 7)
    expected = onnxruntime_prior_codes(files["prior"], uniforms)
    codes = np.array(drawn["codes"], np.int32).reshape(expected.shape)
    assert np.array_equal(codes, expected)
    assert np.array_equal(codes, vq_served["model"].attached("prior").sample_from_uniforms(uniforms).numpy())
    assert len(np.unique(codes)) > 4  # real draws, not one code everywhere
    images = onnxruntime_decode_codes(files["decoder"], codes)
    floats = np.array(drawn["images"], np.float32).reshape(images.shape)
    print(f"vq: {n} x {positions} codes equal; images max abs error {np.max(np.abs(floats - images)):.3g}")
    assert np.max(np.abs(floats - images)) <= 1e-4
    assert max(pixel_error(pixels(page, "#samples canvas", i), images[i]) for i in range(n)) <= TOLERANCE
    titles = page.eval_on_selector_all("#samples canvas", "cs => cs.map(c => c.title)")
    assert titles[3] == "codes = " + ", ".join(map(str, codes[3].ravel()))
    screenshot(page, "decoder-explorer-vq.png")

    count = int(page.get_attribute("body", "data-decoded"))  # a sample's codes to the explorer
    page.click("#samples canvas >> nth=3")
    page.wait_for_function(f"Number(document.body.dataset.decoded) > {count}")
    settled(page)
    assert [int(v) for v in page.input_value("#z").split(",")] == codes[3].ravel().tolist()
    assert pixel_error(pixels(page), images[3]) <= TOLERANCE
    typed = codes[3].ravel().copy()
    typed[:7] = (typed[:7] + 1) % 8  # another first row of codes, typed
    decode(page, ", ".join(map(str, typed)))
    assert pixel_error(pixels(page), onnxruntime_decode_codes(files["decoder"], typed.reshape(1, 7, 7))[0]) <= TOLERANCE

    page.fill("#z", "8" + ", 0" * 48)
    page.press("#z", "Enter")
    assert "The code 8 at position 0 is not one of this decoder's codes 0..7" in error_text(page)
    page.fill("#z", "1, 2, 3")
    page.press("#z", "Enter")
    assert "The code grid has 3 values, but this decoder takes 49 (codes 7×7, the shape in its metadata)" in error_text(
        page
    )
    page.fill("#seed", "-1")
    page.click("#sample")
    assert 'The seed "-1" is not an integer in 0..4294967295' in error_text(page)
    assert page.get_attribute("#seed", "aria-invalid") == "true" and page.evaluate("kerasVae.samples.seed") == 7
    sampled(page, 8)  # a good seed clears the error and draws other codes
    assert page.is_hidden("#error") and page.evaluate("kerasVae.samples.codes") != drawn["codes"]


@NEEDS_NPM
@NEEDS_BROWSER
def test_vq_files_opened_from_disk(vq_page, vq_served, tmp_path):
    """The decoder and its prior chosen together with the button, in any order; a decoder of
    codes alone decodes typed codes but offers no sampling; a prior alone, two decoders or a
    prior whose codes do not fit the decoder give a readable message."""
    import onnx

    page, files = vq_page, vq_served["files"]
    settled(page)
    page.set_input_files("#file", [files["prior"], files["decoder"]])
    page.wait_for_function(
        "document.body.dataset.state === 'ready' && kerasVae.sampler !== null && kerasVae.samples?.seed === 1"
    )
    first = page.evaluate("kerasVae.samples.codes")
    assert first == onnxruntime_prior_codes(files["prior"], page_uniforms(16, 49, 1)).ravel().tolist()

    page.set_input_files("#file", files["decoder"])
    page.wait_for_function("document.body.dataset.state === 'ready' && kerasVae.sampler === null")
    settled(page)
    assert "codes 7×7 of 8 (no prior)" in page.inner_text("#info") and page.is_hidden("#prior-form")
    assert "Sampling needs this decoder's priors" in page.inner_text("#samples-hint")
    assert page.locator("#samples canvas").count() == 0 and page.input_value("#z") == ", ".join(["0"] * 49)

    wider = onnx.load(files["prior"])  # a prior over 16 codes: not this decoder's
    for prop in wider.metadata_props:
        if prop.key == "inputs":
            prop.value = prop.value.replace('"classes": 8', '"classes": 16')
    onnx.save(wider, tmp_path / "prior16.onnx")
    cases = [
        ([files["prior"]], "model.onnx is a prior: open it together with its decoder"),
        (
            [files["decoder"], files["decoder"]],
            "Open one decoder .onnx (and its priors, or its sampler), not model.onnx, model.onnx",
        ),
        (
            [files["decoder"], tmp_path / "prior16.onnx"],
            "prior16.onnx cannot sample codes for the decoder model.onnx: it takes codes [batch, 7, 7] of 16 codes, "
            "the decoder codes [batch, 7, 7] of 8",
        ),
    ]
    for paths, message in cases:
        page.set_input_files("#file", paths)
        wait_for_error(page, message)
        assert page.is_hidden("#panels")


def test_serve_web_serves_and_refreshes_the_prior(cli, vq_served, monkeypatch):
    """serve-web on a run with a prior: /prior.onnx next to /model.onnx (a run without one
    answers 404 there); both re-exported once a model of the run is saved after them."""
    import urllib.error
    import urllib.request

    from keras_vae.export import web

    run_dir, files = vq_served["run"], vq_served["files"]
    with urllib.request.urlopen(vq_served["url"] + "prior.onnx") as response:
        assert response.read() == files["prior"].read_bytes()
    with urllib.request.urlopen(vq_served["url"] + "priors.json") as response:
        assert json.load(response) == ["prior.onnx"]
    server = web.make_server(files["decoder"])  # no prior
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen("http://127.0.0.1:%d/prior.onnx" % server.server_address[1])
        with urllib.request.urlopen("http://127.0.0.1:%d/priors.json" % server.server_address[1]) as response:
            assert json.load(response) == []
    finally:
        server.shutdown()
        server.server_close()

    monkeypatch.setattr(web, "serve", lambda server, stop_after=None: server.server_close())
    code, out, _ = cli("serve-web", run_dir, "--port", "0")
    lines = out.splitlines()
    assert code == 0 and lines[:2] == [f"using {files['decoder']}", f"using {files['prior']}"]
    assert lines[2].startswith("serving the decoder explorer and prior sampler at http://127.0.0.1:")

    now = time.time()
    for path in files.values():
        os.utime(path, (now - 100, now - 100))
    os.utime(run_dir / "prior" / "model.keras", (now - 50, now - 50))  # the prior was saved again since
    parts = web.page_parts(run_dir)
    assert parts == {
        "decoder": (run_dir / "export/onnx/vq_vae_decoder/2/model.onnx", True),
        "prior": (run_dir / "export/onnx/vq_vae_prior/2/model.onnx", True),
    }
    assert web.page_parts(run_dir) == {part: (path, False) for part, (path, _) in parts.items()}
