"""VQ-VAE-2 in the browser: the page runs the top prior's loop, then the bottom prior's loop
conditioned on the top codes, in onnxruntime-web with seeded uniforms, and decodes both grids;
the codes equal those of export/onnx/decode.py (onnxruntime in Python) and of the Keras priors
for the same uniforms, and so do the images."""

import json
import re
import runpy
import urllib.request

import numpy as np
import pytest
from helpers.web_page import (  # noqa: F401
    NEEDS_BROWSER,
    NEEDS_NPM,
    ROOT,
    TOLERANCE,
    browser,
    decode,
    error_text,
    open_page,
    page_uniforms,
    pixel_error,
    pixels,
    screenshot,
    serve_run,
    settled,
    vq_run,
    wait_for_error,
)

N, TOP, BOTTOM = 16, 49, 196  # the page's samples; positions of the 7 x 7 and 14 x 14 grids
PRIORS = ("top_prior", "bottom_prior")


@pytest.fixture(scope="module")
def vq2_served(tmp_path_factory):
    """A tiny untrained vq_vae2 run with both priors, served: {run, model, files, url}."""
    with serve_run(*vq_run(tmp_path_factory.mktemp("web-vq2") / "vq_vae2", "vq_vae2")) as served:
        assert list(served["files"]) == ["decoder", *PRIORS]
        yield served


@pytest.fixture
def vq2_page(browser, vq2_served):
    yield from open_page(browser, vq2_served["url"], height=1000)


def page_stream(seed):
    """decode.py's `uniforms(shape)` drawing the page's stream: the next draws of mulberry32(seed)
    as images.js `uniforms` makes them, so its loops get what the page's get."""
    draws, used = page_uniforms(1, N * (TOP + BOTTOM), seed)[0], 0

    def uniforms(shape):
        nonlocal used
        size = int(np.prod(shape))
        used += size
        return draws[used - size : used].reshape(shape)

    return uniforms


def python_samples(files, seed):
    """{top_codes, bottom_codes} of export/onnx/decode.py's loops on the page's uniforms, and
    the exported decoder's images of them."""
    import onnxruntime

    consumer = runpy.run_path(str(ROOT / "export" / "onnx" / "decode.py"))
    session = {
        part: onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        for part, path in files.items()
    }
    inputs = consumer["decoder_inputs"](session["decoder"].get_modelmeta().custom_metadata_map)
    priors = [session["bottom_prior"], session["top_prior"]]  # any order: the metadata orders the loops
    codes = consumer["prior_feeds"](inputs, priors, N, page_stream(seed))
    return codes, session["decoder"].run(["images"], codes)[0]


def page_codes(page):
    """The page's sample grid: (top [N, 7, 7], bottom [N, 14, 14], images [N, 28, 28, 1])."""
    drawn = page.evaluate("({codes: kerasVae.samples.codes, images: Array.from(kerasVae.samples.images)})")
    rows = np.array(drawn["codes"], np.int32).reshape(N, TOP + BOTTOM)  # each row: top codes, then bottom codes
    images = np.array(drawn["images"], np.float32).reshape(N, 28, 28, 1)
    return rows[:, :TOP].reshape(N, 7, 7), rows[:, TOP:].reshape(N, 14, 14), images


@NEEDS_NPM
@NEEDS_BROWSER
def test_vq_vae2_samples_both_priors_in_the_browser(vq2_page, vq2_served):
    page, files, model = vq2_page, vq2_served["files"], vq2_served["model"]
    settled(page)
    assert page.get_attribute("body", "data-state") == "ready" and page.is_hidden("#error")
    assert "codes 7×7 of 6 + 14×14 of 8 + priors v1, v1, images 28×28×1" in page.inner_text("#info")
    assert page.inner_text("#z-label") == "top_codes, bottom_codes ="
    assert "top_codes, then bottom_codes given top_codes" in page.inner_text("#samples-hint")

    page.fill("#seed", "7")
    page.click("#sample")
    # The page stays live during the loops: its progress line is repainted while the bottom loop runs.
    page.wait_for_function(
        "document.getElementById('sample-status').textContent.startsWith("
        "'sampling bottom_codes (loop 2 of 2): position ')"
    )
    page.wait_for_function("kerasVae.samples?.seed === 7 && document.body.dataset.state === 'ready'")
    settled(page)
    status = page.inner_text("#sample-status")
    assert re.fullmatch(r"16 samples, seed 7: 245 prior calls in \d+\.\d s", status), status
    top, bottom, images = page_codes(page)

    expected, ort_images = python_samples(files, 7)
    assert np.array_equal(top, expected["top_codes"]) and np.array_equal(bottom, expected["bottom_codes"])
    u = page_uniforms(1, N * (TOP + BOTTOM), 7)[0]  # the top loop takes the first N x 49 draws
    keras_top = model.attached("top_prior").sample_from_uniforms(u[: N * TOP].reshape(N, TOP)).numpy()
    keras_bottom = model.attached("bottom_prior").sample_from_uniforms(
        u[N * TOP :].reshape(N, BOTTOM), condition=keras_top
    )
    assert np.array_equal(top, keras_top) and np.array_equal(bottom, keras_bottom.numpy())
    assert len(np.unique(top)) > 3 and len(np.unique(bottom)) > 4  # real draws, not one code everywhere
    keras_images = model.decode_codes(top, bottom).numpy()
    errors = np.max(np.abs(images - ort_images)), np.max(np.abs(images - keras_images))
    print(
        f"vq_vae2: {N} x ({TOP} + {BOTTOM}) codes equal; images max abs error {errors[0]:.3g} (onnxruntime), "
        f"{errors[1]:.3g} (Keras); {status}"
    )
    assert max(errors) <= 1e-4
    # Drawn as computed: 8-bit pixels of the page's floats (whose distance from onnxruntime's, up
    # to 1e-4, may cross an 8-bit rounding boundary).
    assert max(pixel_error(pixels(page, "#samples canvas", i), images[i]) for i in range(N)) <= TOLERANCE
    titles = page.eval_on_selector_all("#samples canvas", "cs => cs.map(c => c.title)")
    assert titles[2] == (
        f"top_codes = {', '.join(map(str, top[2].ravel()))} | bottom_codes = {', '.join(map(str, bottom[2].ravel()))}"
    )
    screenshot(page, "decoder-explorer-vq2.png")

    count = int(page.get_attribute("body", "data-decoded"))  # a sample's codes to the explorer
    page.click("#samples canvas >> nth=2")
    page.wait_for_function(f"Number(document.body.dataset.decoded) > {count}")
    settled(page)
    assert [int(v) for v in page.input_value("#z").split(",")] == [*top[2].ravel(), *bottom[2].ravel()]
    assert pixel_error(pixels(page), ort_images[2]) <= TOLERANCE
    typed = [*top[2].ravel(), *(bottom[2].ravel() + 1) % 8]  # other bottom codes, the same top
    decode(page, ", ".join(map(str, typed)))
    retyped = model.decode_codes(top[2:3], (bottom[2:3] + 1) % 8).numpy()[0]
    assert pixel_error(pixels(page), retyped) <= TOLERANCE

    page.fill("#z", ", ".join(map(str, [*top[2].ravel(), 8, *bottom[2].ravel()[1:]])))
    page.press("#z", "Enter")
    assert "The code 8 at position 0 of bottom_codes is not one of its codes 0..7." in error_text(page)
    page.fill("#z", ", ".join(["0"] * TOP))
    page.press("#z", "Enter")
    assert (
        "The code grids have 49 values, but this decoder takes 245 (top_codes 7×7 then bottom_codes 14×14, "
        "the shapes in its metadata)"
    ) in error_text(page)


@NEEDS_NPM
@NEEDS_BROWSER
def test_vq_vae2_files_opened_from_disk(vq2_page, vq2_served):
    """The decoder and both priors chosen together, in any order, sample as served; without the
    bottom prior, the page says which grid has no prior."""
    page, files = vq2_page, vq2_served["files"]
    settled(page)
    served = page.evaluate("kerasVae.samples.codes")  # seed 1, drawn when the page opened
    expected, _ = python_samples(files, 1)
    rows = np.concatenate([expected["top_codes"].reshape(N, -1), expected["bottom_codes"].reshape(N, -1)], axis=1)
    assert served == rows.ravel().tolist()  # each image's top codes, then its bottom codes
    page.set_input_files("#file", [files["bottom_prior"], files["decoder"], files["top_prior"]])
    page.wait_for_function(
        "document.body.dataset.state === 'ready' && kerasVae.sampler !== null && "
        "kerasVae.samples?.seed === 1 && kerasVae.samples.codes.length === 16 * 245"
    )
    assert page.evaluate("kerasVae.samples.codes") == served

    page.set_input_files("#file", [files["decoder"], files["top_prior"]])
    message = "No prior draws bottom_codes of the decoder model.onnx: open every prior of the model together with it"
    wait_for_error(page, message)
    assert page.is_hidden("#panels")


# Watches the page's main thread from before its scripts run: its long tasks (over 50 ms), every
# WebAssembly module it compiles (onnxruntime-web compiles its .wasm wherever it runs a
# session), and the workers it starts. Workers are not watched: init scripts run in the page only.
MAIN_THREAD_WATCH = """
window.mainThread = { longTasks: [], wasmCompiles: 0, workers: [] };
new PerformanceObserver((list) => {
  for (const task of list.getEntries()) mainThread.longTasks.push({ start: task.startTime, duration: task.duration });
}).observe({ type: "longtask", buffered: true });
for (const name of ["compile", "compileStreaming", "instantiate", "instantiateStreaming"]) {
  const original = WebAssembly[name];
  WebAssembly[name] = function (...args) { mainThread.wasmCompiles++; return original.apply(this, args); };
}
WebAssembly.Module = new Proxy(WebAssembly.Module, {
  construct(target, args) { mainThread.wasmCompiles++; return Reflect.construct(target, args); },
});
window.Worker = new Proxy(window.Worker, {
  construct(target, [url, options]) {
    mainThread.workers.push({ url: String(url), type: options?.type ?? "classic" });
    return Reflect.construct(target, [url, options]);
  },
});
"""
# INP's "good" bound: a click during sampling is answered (painted) within 200 ms. A main thread
# that runs the priors holds it for a prior call per task (about 0.1 s at the zoo's top prior,
# 0.5 s at its bottom one), or for a whole loop if the loop stopped yielding.
LONGEST_TASK_MS = 200


@pytest.fixture
def watched_page(browser, vq2_served):
    """The vq2 page with its main thread watched (MAIN_THREAD_WATCH) from the start."""
    yield from open_page(browser, vq2_served["url"], height=1000, init_script=MAIN_THREAD_WATCH)


@NEEDS_NPM
@NEEDS_BROWSER
def test_sampling_leaves_the_main_thread_free(watched_page):
    """While the page samples (245 prior calls and a decoder call), no task on its main thread
    takes longer than LONGEST_TASK_MS, and the main thread runs no model at all: it never
    compiles WebAssembly (so onnxruntime-web never runs there), and one module worker does the
    inference. The tiny test priors take ~5 ms a call, too little to show as long tasks even on
    the main thread, so the WebAssembly count is what tells the two designs apart here."""
    page = watched_page
    settled(page)
    start = page.evaluate("performance.now()")
    page.fill("#seed", "7")
    page.click("#sample")
    page.wait_for_function(
        "document.getElementById('sample-status').textContent.startsWith("
        "'sampling bottom_codes (loop 2 of 2): position ')"
    )
    page.wait_for_function("kerasVae.samples?.seed === 7 && document.body.dataset.state === 'ready'")
    end = page.evaluate("performance.now()")
    watched = page.evaluate("mainThread")
    during = [
        task["duration"]
        for task in watched["longTasks"]
        if task["start"] + task["duration"] > start and task["start"] < end
    ]
    print(
        f"main thread during {(end - start) / 1000:.1f} s of sampling: {len(during)} long tasks, longest "
        f"{max(during, default=0):.0f} ms; {watched['wasmCompiles']} WebAssembly compiles; workers {watched['workers']}"
    )
    assert page.inner_text("#sample-status").startswith("16 samples, seed 7: 245 prior calls in ")
    assert max(during, default=0) <= LONGEST_TASK_MS, during
    assert watched["wasmCompiles"] == 0
    assert [(worker["url"].rsplit("/", 1)[-1], worker["type"]) for worker in watched["workers"]] == [
        ("inference-worker.js", "module")
    ]


def test_serve_web_lists_both_priors(cli, vq2_served, monkeypatch):
    """serve-web on a vq_vae2 run uses the decoder and both priors; priors.json names the served
    priors, and each is the exported file."""
    from keras_vae.export import web

    url, files = vq2_served["url"], vq2_served["files"]
    monkeypatch.setattr(web, "serve", lambda server, stop_after=None: server.server_close())
    code, out, _ = cli("serve-web", vq2_served["run"], "--port", "0")
    assert code == 0 and out.splitlines()[:3] == [f"using {files[part]}" for part in ("decoder", *PRIORS)]
    with urllib.request.urlopen(url + "priors.json") as response:
        listed = json.load(response)
    assert sorted(listed) == ["bottom_prior.onnx", "top_prior.onnx"]
    for name in listed:
        with urllib.request.urlopen(url + name) as response:
            assert response.read() == files[name.removesuffix(".onnx")].read_bytes()


def test_decode_py_samples_vq_vae2_and_names_a_missing_prior(vq2_served, tmp_path, capsys):
    """decode.py with both priors (any order) writes the sample grid; with the top one alone it
    stops with one error line naming the grid that has no prior."""
    files = vq2_served["files"]
    main = runpy.run_path(str(ROOT / "export" / "onnx" / "decode.py"))["main"]
    out = tmp_path / "vq2.png"
    main(
        [
            str(files["decoder"]),
            "--prior",
            str(files["bottom_prior"]),
            "--prior",
            str(files["top_prior"]),
            "--n",
            "4",
            "--out",
            str(out),
        ]
    )
    assert out.read_bytes().startswith(b"\x89PNG") and "wrote" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stopped:
        main([str(files["decoder"]), "--prior", str(files["top_prior"]), "--out", str(out)])
    assert stopped.value.code == 2
    assert (
        "error: the decoder takes a grid of codes 'bottom_codes': give the prior that draws it with --prior"
        in capsys.readouterr().err
    )
