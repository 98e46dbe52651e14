"""A VAE's fitted sampler in the browser: `serve-web` serves the run's Gaussian mixture (the
"sampler" part) beside its decoder, and the page's "Samples from: GMM" draws z with it in
onnxruntime-web from the seed's uniforms and normals: the same z as onnxruntime and the Keras
mixture in Python for the same u and eps, decoded to the same images."""

import json
import os
import shutil
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from helpers.web_page import (  # noqa: F401
    NEEDS_BROWSER,
    NEEDS_NPM,
    ROOT,
    TOLERANCE,
    browser,
    check_samples,
    error_text,
    onnxruntime_images,
    open_page,
    page_normals,
    pixel_error,
    pixels,
    sample_zs,
    sampler_feeds,
    screenshot,
    serve_web,
    settled,
    wait_for_error,
)

N, LATENT = 16, 3  # the page's samples; the run's latent size


def scaled_decoder(run_dir):
    """Scale the run's decoder kernels x3 and save the model again (as test_web.scaled_run does to
    an untrained one): a model trained for one epoch decodes every z to the same flat grey,
    which would hide a misplaced pixel. The encoder, whose codes the sampler fits, is unchanged."""
    from keras_vae.runner import runs

    model = runs.load_model(run_dir / runs.MODEL)
    for weight in model.decoder.weights:
        if "kernel" in weight.path:
            weight.assign(weight * 3)
    runs.save_model(model, run_dir / runs.MODEL, include_optimizer=False)


@pytest.fixture(scope="module")
def gmm_run(tmp_path_factory):
    """A dense_vae with a 3-D latent space trained for one epoch on 256 images (its decoder
    scaled), then its sampler fitted as `train --resume RUN --stage sampler` fits it: RUN/sampler/gmm.npz."""
    from keras_vae.runner import train

    params = {"epochs": 1, "dataset": "mnist_5k", "latent_dim": LATENT, "hidden_sizes": [32]}
    folder = tmp_path_factory.mktemp("web-gmm")
    _, run_dir = train.train("dense_vae", params, run_dir=folder / "dense_vae", seed=0, limit=256, verbose=0)
    scaled_decoder(run_dir)
    train.resume(run_dir, stage="sampler", verbose=0)
    assert (run_dir / "sampler" / "gmm.npz").is_file()
    return run_dir


@pytest.fixture(scope="module")
def gmm_served(gmm_run):
    """`serve-web RUN_DIR --port 0` in its own process: it exports the decoder and the sampler
    first. {run, url, files: {part: ONNX path}}; the server stops by itself after 300 s, or when
    the tests end."""
    command = [sys.executable, "-m", "keras_vae.zoo", "serve-web", gmm_run, "--port", "0", "--stop-after", "300"]
    with serve_web(command, ROOT, os.environ, gmm_run.parent / "serve-web.stderr") as served:
        files = {part: gmm_run / f"export/onnx/dense_vae_{part}/1/model.onnx" for part in ("decoder", "sampler")}
        printed = [line.strip() for line in served["printed"]]
        assert printed[:2] == [f"exported {files['decoder']}", f"exported {files['sampler']}"], printed
        assert printed[2].startswith("serving the decoder explorer and GMM sampler at http://127.0.0.1:")
        yield {"run": gmm_run, "url": served["url"], "files": files}


@pytest.fixture
def gmm_page(browser, gmm_served):
    yield from open_page(browser, gmm_served["url"], height=900)


def onnxruntime_z(sampler_file, feeds):
    """The exported sampler's z in onnxruntime for {uniform, noise}."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(sampler_file), providers=["CPUExecutionProvider"])
    return session.run(["z"], feeds)[0]


def keras_z(run_dir, feeds):
    """The definition of record: keras_vae.core.mixture.transform on the run's fitted mixture."""
    from keras_vae.core import mixture
    from keras_vae.runner import samplers

    return mixture.transform(*samplers.read(run_dir).arrays(), feeds["uniform"], feeds["noise"]).numpy()


def samples_from(page, source, seed=1):
    """Choose "Samples from" `source` ("normal" or "gmm") and wait for the grid of `seed` drawn from it."""
    page.select_option("#samples-from", source)
    drawn(page, source, seed)


def drawn(page, source, seed):
    page.wait_for_function(
        "([s, seed]) => document.getElementById('samples').dataset.from === s && "
        "document.getElementById('samples').dataset.seed === String(seed) && document.body.dataset.state === 'ready'",
        arg=[source, seed],
    )
    settled(page)


def z_of(page):
    return np.array([float(v) for v in page.input_value("#z").split(",")], np.float32)


@NEEDS_NPM
@NEEDS_BROWSER
def test_gmm_samples_in_the_browser(gmm_page, gmm_served):
    """N(0, I) by default; with GMM, each sample's z is the exported sampler's output for the
    page's u and eps (onnxruntime and the Keras mixture in Python, on the same u and eps), its
    image onnxruntime's decoding of that z; a clicked sample goes to the explorer."""
    page, files, run_dir = gmm_page, gmm_served["files"], gmm_served["run"]
    drawn(page, "normal", 1)
    components = json.loads((run_dir / "sampler" / "gmm.json").read_text())["components"]
    size = f"{components} component{'' if components == 1 else 's'}"
    assert f"latent {LATENT}, images 28×28×1, trained on mnist_5k" in page.inner_text("#info")
    assert f" · GMM sampler v1 ({size}) · model.onnx + sampler.onnx" in page.inner_text("#info")
    assert page.is_hidden("#error")
    assert page.is_visible("#samples-from") and page.input_value("#samples-from") == "normal"
    options = page.eval_on_selector_all("#samples-from option", "os => os.map(o => [o.value, o.textContent])")
    assert options == [["normal", "N(0, I)"], ["gmm", f"GMM ({size})"]]
    assert page.inner_text("#samples-title") == "Samples, z ~ N(0, I)"
    normal, _, _ = check_samples(page, files["decoder"])  # today's N(0, I) rows, to 3 decimals
    python_normals = np.stack([page_normals(LATENT, 1000 + i) for i in range(N)])
    assert np.max(np.abs(normal - np.round(python_normals, 3))) <= 1e-6  # the Python normals are the page's

    samples_from(page, "gmm")
    assert page.inner_text("#samples-title") == f"Samples, z ~ GMM ({size})" and page.is_hidden("#error")
    zs, titles, images = check_samples(page, files["decoder"])  # each image onnxruntime's decoding of its z
    feeds = sampler_feeds(N, LATENT, seed=1)
    expected = onnxruntime_z(files["sampler"], feeds)
    error = np.max(np.abs(zs - expected))
    keras_error = np.max(np.abs(zs - keras_z(run_dir, feeds)))
    with np.load(run_dir / "sampler" / "gmm.npz") as fitted:
        picked = (feeds["uniform"] >= np.cumsum(fitted["weights"])[None, :-1]).sum(1)  # the component of each sample
    print(f"gmm ({size}): z max abs error {error:.3g} (onnxruntime), {keras_error:.3g} (Keras); components {picked}")
    assert error <= 1e-5 and keras_error <= 1e-5
    assert len({d.tobytes() for d in images}) == N  # 16 different images, not one flat grey
    assert np.max(np.abs(zs - normal)) > 0.1  # not the N(0, I) rows
    digits = [len(v.lstrip("-").replace(".", "").lstrip("0")) for v in titles[3].removeprefix("z = ").split(", ")]
    assert max(digits) <= 9  # a float32's shortest decimal, not the double's 17 digits
    screenshot(page, "decoder-explorer-gmm.png")

    count = int(page.get_attribute("body", "data-decoded"))  # a sample's z to the explorer
    page.click("#samples canvas >> nth=3")
    page.wait_for_function(f"Number(document.body.dataset.decoded) > {count}")
    settled(page)
    assert np.array_equal(z_of(page), zs[3])  # the z box: exactly the sampler's float32 z
    assert pixel_error(pixels(page), onnxruntime_images(files["decoder"], zs[3])[0]) <= TOLERANCE

    page.click("#new-samples")  # the next seed, still from the GMM
    drawn(page, "gmm", 2)
    zs2, _, _ = check_samples(page, files["decoder"])
    assert np.max(np.abs(zs2 - onnxruntime_z(files["sampler"], sampler_feeds(N, LATENT, seed=2)))) <= 1e-5
    samples_from(page, "normal", seed=2)  # and back: seed 2's N(0, I) rows
    assert page.inner_text("#samples-title") == "Samples, z ~ N(0, I)"
    normal2, _, _ = check_samples(page, files["decoder"])
    assert np.max(np.abs(normal2 - np.round(np.stack([page_normals(LATENT, 2000 + i) for i in range(N)]), 3))) <= 1e-6


@pytest.fixture
def no_sampler_url(gmm_served):
    """The same run's decoder served alone, as serve-web serves a run without a sampler."""
    from keras_vae.export import web

    server = web.make_server(gmm_served["files"]["decoder"])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield "http://127.0.0.1:%d/" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@NEEDS_NPM
@NEEDS_BROWSER
def test_a_decoder_without_its_sampler_offers_no_gmm(browser, gmm_served, no_sampler_url):
    """A run served without a sampler, or the served decoder named alone with ?model=: N(0, I)
    only, no "Samples from"."""
    with urllib.request.urlopen(no_sampler_url + "priors.json") as response:
        assert json.load(response) == []
    with pytest.raises(urllib.error.HTTPError, match="404"):
        urllib.request.urlopen(no_sampler_url + "sampler.onnx")
    for url in (no_sampler_url, gmm_served["url"] + "?model=model.onnx"):
        for page in open_page(browser, url):
            settled(page)
            assert page.get_attribute("body", "data-state") == "ready" and page.is_hidden("#error")
            info = page.inner_text("#info")
            assert f"latent {LATENT}, images 28×28×1" in info and "sampler" not in info
            assert page.is_hidden("#samples-from-row") and page.evaluate("kerasVae.zSampler") is None
            assert page.eval_on_selector_all("#samples-from option", "os => os.map(o => o.value)") == ["normal"]
            assert page.inner_text("#samples-title") == "Samples, z ~ N(0, I)"
            assert page.get_attribute("#samples", "data-from") == "normal"


@pytest.fixture(scope="module")
def other_decoder(tmp_path_factory):
    """The ONNX decoder of an untrained dense_vae with a 2-D latent space: not the sampler's."""
    import keras

    from keras_vae.export import export_run
    from keras_vae.runner import builder, runs
    from keras_vae.runner import config as run_config

    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("web-gmm-other") / "dense_vae"
    folder.mkdir()
    model = builder.build("dense_vae", compile=False, latent_dim=2, hidden_sizes=[32], dataset="mnist_5k")
    runs.write_config(folder, run_config.resolve("dense_vae", {"dataset": "mnist_5k"}))
    runs.save_model(model, folder / runs.MODEL, include_optimizer=False)
    [artifact] = export_run(folder, formats="onnx", out=folder.parent / "out")
    return artifact.folder / "model.onnx"


def codes_decoder(path):
    """A decoder of codes as the page sees one (a VQ-VAE's: codes int32 [batch, 7, 7] of 8 ->
    images, in its metadata), its graph a Cast: enough to open, not to decode."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Cast", ["codes"], ["images"], to=TensorProto.FLOAT)],
        "codes_decoder",
        [helper.make_tensor_value_info("codes", TensorProto.INT32, ["batch", 7, 7])],
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 7, 7])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    codes = {"name": "codes", "shape": [7, 7], "dtype": "int32", "values": "index", "classes": 8}
    metadata = {"keras_vae_version": "0.1.0", "part": "decoder", "entry": "vq_vae", "inputs": json.dumps([codes])}
    for key, value in {**metadata, "image_shape": "[28, 28, 1]"}.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, path)
    return path


@NEEDS_NPM
@NEEDS_BROWSER
def test_sampler_files_opened_from_disk(gmm_page, gmm_served, other_decoder, tmp_path):
    """The decoder and its sampler chosen together, in any order, offer GMM samples (the same z
    as served); a sampler alone, two samplers, a sampler with a decoder of another latent size
    or with a decoder of codes, or ?sampler= naming a missing file or a decoder give a readable message."""
    page, files = gmm_page, gmm_served["files"]
    drawn(page, "normal", 1)
    for part in ("decoder", "sampler"):
        shutil.copy(files[part], tmp_path / f"{part}.onnx")
    shutil.copy(files["sampler"], tmp_path / "sampler2.onnx")
    shutil.copy(other_decoder, tmp_path / "decoder2.onnx")
    decoder, sampler = tmp_path / "decoder.onnx", tmp_path / "sampler.onnx"

    page.set_input_files("#file", [sampler, decoder])
    page.wait_for_function("document.body.dataset.state === 'ready' && kerasVae.decoder?.name === 'decoder.onnx'")
    drawn(page, "normal", 1)
    assert "decoder.onnx + sampler.onnx" in page.inner_text("#info") and page.is_visible("#samples-from")
    samples_from(page, "gmm")
    zs, _, _ = check_samples(page, decoder)
    assert np.max(np.abs(zs - onnxruntime_z(sampler, sampler_feeds(N, LATENT, seed=1)))) <= 1e-5

    cases = [
        ([sampler], "sampler.onnx is a sampler: open it together with its decoder (choose the files together)."),
        (
            [decoder, sampler, tmp_path / "sampler2.onnx"],
            "sampler.onnx, sampler2.onnx are samplers: open one with the decoder decoder.onnx.",
        ),
        (
            [tmp_path / "decoder2.onnx", sampler],
            f"sampler.onnx cannot sample z for the decoder decoder2.onnx: it draws z of {LATENT} dimensions, the "
            "decoder takes z of 2 (latent_dim in their metadata): open the sampler exported from the decoder's run.",
        ),
        (
            [codes_decoder(tmp_path / "codes.onnx"), sampler],
            "sampler.onnx cannot sample z for the decoder codes.onnx: the decoder takes codes, not z (a VQ-VAE's "
            "codes come from its priors: open the decoder with its prior .onnx files).",
        ),
    ]
    for paths, message in cases:
        page.set_input_files("#file", paths)
        wait_for_error(page, message)
        assert page.is_hidden("#panels") and page.evaluate("kerasVae.zSampler") is None
    screenshot(page, "decoder-explorer-gmm-error.png")

    page.goto(gmm_served["url"] + "?model=model.onnx&sampler=missing.onnx")
    assert "Could not load missing.onnx: HTTP 404" in error_text(page)
    page.goto(gmm_served["url"] + "?model=model.onnx&sampler=model.onnx")  # the decoder named as its sampler
    message = "model.onnx cannot sample z for the decoder model.onnx: it is the decoder of dense_vae, not a sampler."
    assert message in error_text(page) and page.is_hidden("#panels")
    page.goto(gmm_served["url"] + "?model=model.onnx&sampler=sampler.onnx")  # the served sampler, named
    page.wait_for_function("document.body.dataset.state === 'ready' && kerasVae.zSampler !== null")
    assert page.is_visible("#samples-from") and page.is_hidden("#error")


def test_serve_web_serves_lists_and_refreshes_the_sampler(gmm_served):
    """serve-web on a run with a fitted sampler: /sampler.onnx next to /model.onnx, listed in
    /priors.json; both re-exported once the sampler is fitted again after them."""
    from keras_vae.export import web

    run_dir, files, url = gmm_served["run"], gmm_served["files"], gmm_served["url"]
    with urllib.request.urlopen(url + "sampler.onnx") as response:
        assert response.read() == files["sampler"].read_bytes()
    with urllib.request.urlopen(url + "priors.json") as response:
        assert json.load(response) == ["sampler.onnx"]
    assert web.page_parts(run_dir) == {part: (path, False) for part, path in files.items()}  # current: reused

    now = time.time()
    for path in files.values():
        os.utime(path, (now - 100, now - 100))
    os.utime(run_dir / "sampler" / "gmm.npz", (now - 50, now - 50))  # the sampler was fitted again since
    parts = web.page_parts(run_dir)
    assert parts == {part: (run_dir / f"export/onnx/dense_vae_{part}/2/model.onnx", True) for part in files}
    assert web.page_parts(run_dir) == {part: (path, False) for part, (path, _) in parts.items()}
