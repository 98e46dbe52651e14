"""What the browser tests share: `serve-web` in its own process, headless Chromium (Debian's,
through Playwright), the page's state and pixels checked against onnxruntime in Python, its seeded
uniforms and normals repeated in Python, and tiny VQ runs to serve."""

import contextlib
import os
import queue
import re
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM = Path("/usr/bin/chromium")
RUNTIME = ROOT / "export" / "web" / "node_modules" / "onnxruntime-web" / "dist" / "ort.wasm.min.mjs"
NEEDS_NPM = pytest.mark.skipif(
    not RUNTIME.is_file(),
    reason="export/web/node_modules has no onnxruntime-web: `pip install -e .` fetches it, or `npm ci` in export/web",
)
NEEDS_BROWSER = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason="no /usr/bin/chromium: `apt-get install -y chromium` (.ci/run does)"
)
# No sandbox as root; no background connections (refused here, and slow to fail).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("KERAS_VAE_SCREENSHOTS", ROOT / "runs" / "web-test"))
TOLERANCE = 1e-4  # on pixels in [0, 1] after 8-bit rounding: any differing 8-bit value fails


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, timeout=30_000)
        yield chromium
        chromium.close()


def open_page(browser, url, height=720, init_script=None, requests=None):
    """The page at `url`, its decoder loaded (after `init_script` ran in it, if given: before
    the page's own scripts); fails on any uncaught script error. A `requests` list gets the URL
    of every request the page and its worker make."""
    context = browser.new_context(viewport={"width": 1100, "height": height})
    if init_script:
        context.add_init_script(init_script)
    if requests is not None:
        context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    page.goto(url)
    page.wait_for_function("document.body.dataset.state !== 'loading'")
    yield page
    context.close()
    assert not errors, errors


def settled(page):
    page.wait_for_function("document.body.dataset.state !== 'loading' && !kerasVae.rendering && !kerasVae.pending")


def pixels(page, selector="#view", index=0, channels=1, box=None):
    """The 8-bit pixels drawn in a canvas, or in its `box` [x, y, width, height]: [H, W] for a
    grey image (checked: R = G = B), else [H, W, 3]; always opaque."""
    rgba = page.evaluate(
        """([selector, index, box]) => {
            const c = document.querySelectorAll(selector)[index];
            const [x, y, w, h] = box || [0, 0, c.width, c.height];
            return [h, w, Array.from(c.getContext("2d").getImageData(x, y, w, h).data)];
        }""",
        [selector, index, box],
    )
    height, width, data = rgba
    rgba = np.array(data, np.uint8).reshape(height, width, 4)
    assert (rgba[..., 3] == 255).all()
    if channels == 3:
        return rgba[..., :3]
    assert (rgba[..., 0] == rgba[..., 1]).all() and (rgba[..., 0] == rgba[..., 2]).all()
    return rgba[..., 0]


def read_lines(stream, lines):
    for line in stream:
        lines.put(line)


@contextlib.contextmanager
def serve_web(command, cwd, env, log, wait=120):
    """Run a `serve-web ... --port 0` command line in its own process until it prints the URL it
    serves: yields {"url", "printed": its stdout lines up to that one, "process", "lines": a queue
    of the lines after, filled by "reader", a thread}. Its stderr goes to the file `log`; it is
    terminated at the end if it is still running."""
    with open(log, "w") as stderr:  # a file, not a pipe nobody reads (a full pipe would block it)
        process = subprocess.Popen(
            [str(a) for a in command],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=cwd,
            env={**env, "PYTHONUNBUFFERED": "1"},
        )
    lines = queue.Queue()
    reader = threading.Thread(target=read_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    try:
        printed, deadline = [], time.monotonic() + wait
        while not (printed and printed[-1].startswith("serving")):
            try:
                printed.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail(f"serve-web printed no URL in {wait} s: {printed} {Path(log).read_text()[-2000:]}")
        url = re.search(r"http://127\.0\.0\.1:\d+/", printed[-1]).group(0)
        yield {"url": url, "printed": printed, "process": process, "lines": lines, "reader": reader}
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=10)


def finished(served, timeout):
    """Wait for the process of `serve_web` to end by itself: (its exit code, the stdout lines it
    printed after the URL)."""
    code = served["process"].wait(timeout=timeout)
    served["reader"].join(timeout=10)
    return code, [served["lines"].get() for _ in range(served["lines"].qsize())]


def onnxruntime_images(onnx_file, z, label=None):
    """The decoder's images in onnxruntime for latents `z`, and for a conditional decoder,
    `label` for every row."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    latent_dim = {i.name: i.shape for i in session.get_inputs()}["z"][1]
    feeds = {"z": np.asarray(z, np.float32).reshape(-1, latent_dim)}
    if label is not None:
        feeds["labels"] = np.full(len(feeds["z"]), label, np.int32)
    return session.run(["images"], feeds)[0]


def sample_zs(page):
    """The z of each sample (from its title, "z = 0.1, -2 | labels = 3"), and the titles."""
    titles = page.eval_on_selector_all("#samples canvas", "cs => cs.map(c => c.title)")
    zs = [[float(v) for v in t.removeprefix("z = ").split(" | ")[0].split(",")] for t in titles]
    return np.array(zs, np.float32), titles


def check_samples(page, onnx_file, label=None):
    """The sample grid holds 16 images, each drawn as onnxruntime decodes its z (from its title;
    and `label`, for a conditional decoder) after 8-bit rounding. Returns (zs, titles, the drawn
    8-bit pixels of each)."""
    zs, titles = sample_zs(page)
    assert len(titles) == 16
    images = onnxruntime_images(onnx_file, zs, label=label)
    drawn = [pixels(page, "#samples canvas", i) for i in range(16)]
    assert max(pixel_error(d, image) for d, image in zip(drawn, images)) <= TOLERANCE
    return zs, titles, drawn


def pixel_error(drawn, image):
    """Max abs error in [0, 1] between drawn 8-bit pixels and a float image rounded to 8 bits."""
    image = image[..., 0] if image.shape[-1] == 1 else image
    expected = np.round(np.clip(image.astype(np.float64), 0, 1) * 255)
    return float(np.max(np.abs(drawn / 255.0 - expected / 255.0)))


def decode(page, text):
    count = int(page.get_attribute("body", "data-decoded"))
    page.fill("#z", text)
    page.press("#z", "Enter")
    page.wait_for_function(f"Number(document.body.dataset.decoded) > {count}")
    settled(page)


def screenshot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name, full_page=True)
    print(f"screenshot: {SCREENSHOTS / name}")


def wait_for_error(page, message):
    """Wait until the page shows an error holding `message` (the state alone could still be an
    earlier file's error)."""
    page.wait_for_function(
        "m => document.body.dataset.state === 'error' && document.getElementById('error').textContent.includes(m)",
        arg=message,
    )


def error_text(page):
    page.wait_for_selector("#error", state="visible")
    return page.inner_text("#error")


def vq_run(folder, entry="vq_vae"):
    """An untrained `entry` (vq_vae, or vq_vae2) at its test size (zoo/<entry>/config.json
    "test_overrides") with an untrained PixelCNN prior per later stage, saved as a run folder
    (config.json, model.keras, <stage>/model.keras); its decoder kernels scaled x3 as in
    test_web.scaled_run, so that each code shows in the image. Returns (folder, the model with
    its priors attached)."""
    import keras

    from keras_vae.catalogue.entries import read_entry
    from keras_vae.runner import builder, runs, stages
    from keras_vae.runner import config as run_config

    keras.utils.set_random_seed(0)
    sizes = {"num_codes": 8, "filters": [4, 8]}  # 8 (bottom) codes on a 7 x 7 (top) grid: what the tests assert
    model = builder.build(entry, compile=False, **{**read_entry(entry)["test_overrides"], **sizes}, dataset="mnist_5k")
    for weight in model.decoder.weights:
        if "kernel" in weight.path:
            weight.assign(weight * 3)
    folder.mkdir(parents=True)
    runs.write_config(folder, run_config.resolve(entry, {"dataset": "mnist_5k"}))
    runs.save_model(model, folder / runs.MODEL, include_optimizer=False)
    for stage in model.stages:
        model.attach(stage, model.stage_model(stage))
        stages.folder(folder, stage).mkdir()
        runs.save_model(model.attached(stage), stages.folder(folder, stage) / runs.MODEL, include_optimizer=False)
    return folder, model


@contextlib.contextmanager
def serve_run(run_dir, model):
    """Export the run's page parts as serve-web does (checked: all exported now) and serve them
    in-process (serve-web's own process is tested in test_web.py): {run, model, files: {part:
    ONNX path}, url}."""
    from keras_vae.export import web

    parts = web.page_parts(run_dir)
    assert all(exported for _, exported in parts.values()), parts
    files = {part: path for part, (path, _) in parts.items()}
    server = web.make_server(files["decoder"], priors={part: path for part, path in files.items() if part != "decoder"})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield {"run": run_dir, "model": model, "files": files, "url": "http://127.0.0.1:%d/" % server.server_address[1]}
    finally:
        server.shutdown()
        server.server_close()


MASK32 = 0xFFFFFFFF


def mulberry32(seed, count):
    """The first `count` uint32 draws of images.js's mulberry32(seed) (Math.imul is the low 32
    bits of the product; JS's int32 results are the same bits)."""
    s, out = seed & MASK32, []
    for _ in range(count):
        s = (s + 0x6D2B79F5) & MASK32
        t = ((s ^ (s >> 15)) * (1 | s)) & MASK32
        t = ((t + (((t ^ (t >> 7)) * (61 | t)) & MASK32)) & MASK32) ^ t
        out.append((t ^ (t >> 14)) & MASK32)
    return np.array(out, np.uint64)


def page_uniforms(n, positions, seed):
    """The page's uniforms for n samples (images.js `uniforms`): [n, positions] float32, exact."""
    return ((mulberry32(seed, n * positions) >> 8).astype(np.float64) / 2**24).astype(np.float32).reshape(n, positions)


def page_normals(count, seed):
    """images.js `normals(count, seed)`: float64 [count], Box-Muller on the draws of
    mulberry32(seed), each (draw + 0.5) / 2^32, two per value (the first in the log, the second in
    the cosine, as JS evaluates them)."""
    u = (mulberry32(seed, 2 * count).astype(np.float64) + 0.5) / 2**32
    return np.sqrt(-2 * np.log(u[0::2])) * np.cos(2 * np.pi * u[1::2])


def sampler_feeds(n, latent_dim, seed):
    """The inputs z-sampler.js feeds a z sampler for the page's n samples of `seed`: uniform
    [n, 1], sample i's the i-th of images.js `uniforms(n, seed)`; noise [n, latent_dim], sample
    i's `normals(latent_dim, seed * 1000 + i)`; float32."""
    noise = np.stack([page_normals(latent_dim, seed * 1000 + i) for i in range(n)]).astype(np.float32)
    return {"uniform": page_uniforms(1, n, seed).reshape(n, 1), "noise": noise}


def sampled(page, seed):
    page.fill("#seed", str(seed))
    page.click("#sample")
    page.wait_for_function("s => kerasVae.samples?.seed === s && document.body.dataset.state === 'ready'", arg=seed)
    settled(page)
