"""What the browser tests share: headless Chromium (Debian's, through Playwright), the page's
state and pixels, its seeded uniforms repeated in Python, and tiny VQ runs to serve."""

import contextlib
import os
import threading
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM = Path("/usr/bin/chromium")
RUNTIME = ROOT / "export" / "web" / "node_modules" / "onnxruntime-web" / "dist" / "ort.wasm.min.mjs"
NEEDS_NPM = pytest.mark.skipif(
    not RUNTIME.is_file(), reason="export/web/node_modules is missing: `npm ci` in export/web (.ci/run does)"
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


def open_page(browser, url, height=720, init_script=None):
    """The page at `url`, its decoder loaded (after `init_script` ran in it, if given: before
    the page's own scripts); fails on any uncaught script error."""
    context = browser.new_context(viewport={"width": 1100, "height": height})
    if init_script:
        context.add_init_script(init_script)
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


def sampled(page, seed):
    page.fill("#seed", str(seed))
    page.click("#sample")
    page.wait_for_function("s => kerasVae.samples?.seed === s && document.body.dataset.state === 'ready'", arg=seed)
    settled(page)
