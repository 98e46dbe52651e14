"""The built wheel, installed into a fresh virtual environment outside the checkout, is the whole
product: `keras-vae list`, `sample conv_vae`, a short `train`, the README's "In Python" block, and
`serve-web conv_vae`'s page in headless Chromium (the page and its onnxruntime-web come with the wheel).

By default the fresh environment reuses the packages of the interpreter running the tests (a .pth
file names its site-packages), gets only the wheel, and checks that those packages, the tested
lock, satisfy every dependency range the wheel declares: nothing is downloaded. With
KERAS_VAE_WHEEL_PYTHON=/path/to/python the environment is made from that interpreter and gets the
wheel and requirements.txt from the package index (or pip's cache): .ci/run does that on the
oldest and newest supported Python.
"""

import json
import os
import re
import site
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.web_page import NEEDS_BROWSER, browser, check_samples, finished, open_page, serve_web, settled  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
FULL_INSTALL_PYTHON = os.environ.get("KERAS_VAE_WHEEL_PYTHON")

pytestmark = pytest.mark.slow
CHECK_RANGES = """
import importlib.metadata as metadata
from packaging.requirements import Requirement
for text in metadata.requires("keras_vae"):
    req = Requirement(text)
    if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ("tfds", "onnx", "test")):
        found = metadata.version(req.name)
        assert req.specifier.contains(found), f"{req.name} {found} is outside the declared {req.specifier}"
"""


def run(args, cwd, env=None, timeout=600):
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"{args} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


def readme_python_block():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## In Python\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(bin folder of a fresh venv with the wheel installed, a work folder outside the checkout)."""
    tmp = tmp_path_factory.mktemp("install")
    run([sys.executable, "-m", "build", "--outdir", tmp / "dist", ROOT], cwd=tmp)
    [wheel] = (tmp / "dist").glob("keras_vae-*.whl")
    venv = tmp / "venv"
    run([FULL_INSTALL_PYTHON or sys.executable, "-m", "venv", venv], cwd=tmp)
    python = venv / "bin" / "python"
    if FULL_INSTALL_PYTHON:
        run([python, "-m", "pip", "install", "-q", "-r", ROOT / "requirements.txt", f"{wheel}[tfds,onnx]"], cwd=tmp)
    else:
        purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=tmp).strip()
        Path(purelib, "tested_stack.pth").write_text("\n".join(site.getsitepackages()) + "\n")
        # --force-reinstall: an editable keras_vae of the outer environment must not stand in for it
        run([python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--force-reinstall", wheel], cwd=tmp)
        run([python, "-c", CHECK_RANGES], cwd=tmp)
    work = tmp / "work"
    work.mkdir()
    return venv / "bin", work


def env_of(bin_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_VAE_ZOO", "VIRTUAL_ENV")}
    return {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}", "KERAS_VAE_OFFLINE": "1"}


def test_the_package_and_its_zoo_come_from_the_install(installed):
    bin_dir, work = installed
    out = run(
        [
            bin_dir / "python",
            "-c",
            "import keras_vae, keras_vae.catalogue.entries as e; print(keras_vae.__file__); "
            "print(e.zoo_dir()); print(len(e.entry_names()))",
        ],
        cwd=work,
        env=env_of(bin_dir),
    )
    package, zoo, entries = out.split()
    site_packages = bin_dir.parent / "lib"
    assert Path(package).is_relative_to(site_packages) and Path(zoo).is_relative_to(site_packages)
    assert int(entries) == len(list((ROOT / "zoo").glob("*/config.json")))


def test_list_sample_and_train_from_the_console_script(installed):
    bin_dir, work = installed
    env = env_of(bin_dir)
    started = time.perf_counter()
    out = run([bin_dir / "keras-vae", "list"], cwd=work, env=env)
    assert time.perf_counter() - started < 5  # about 0.1 s here: no model is built, no TensorFlow
    shipped_elbo = json.loads((ROOT / "zoo" / "conv_vae" / "pretrained" / "metrics.json").read_text())["elbo"]
    assert "conv_vae" in out and "886,881" in out and f"ELBO {shipped_elbo:.1f}" in out
    zoo = Path(
        run(
            [bin_dir / "python", "-c", "import keras_vae.catalogue.entries as e; print(e.zoo_dir())"], cwd=work, env=env
        ).strip()
    )
    shipped = sorted(zoo.rglob("*"))

    run([bin_dir / "keras-vae", "sample", "conv_vae"], cwd=work, env=env)
    assert (work / "runs" / "conv_vae" / "pretrained" / "samples_seed0_n64.png").is_file()
    assert sorted(zoo.rglob("*")) == shipped  # never written into

    run(
        [
            bin_dir / "keras-vae",
            "train",
            "dense_vae",
            "--epochs",
            "1",
            "--set",
            "dataset=mnist_5k",
            "--limit",
            "256",
            "--out",
            "run",
        ],
        cwd=work,
        env=env,
    )
    assert json.loads((work / "run" / "state.json").read_text())["epoch"] == 1
    assert (work / "run" / "model.keras").is_file()


def test_the_readme_python_block_runs_as_a_script(installed):
    bin_dir, work = installed
    script = work / "readme_block.py"
    script.write_text(readme_python_block())
    run([bin_dir / "python", script], cwd=work, env=env_of(bin_dir))
    assert (work / "runs" / "conv_vae" / "pretrained" / "metrics.json").is_file()
    assert list((work / "exported").rglob("model.onnx"))


@NEEDS_BROWSER
def test_serve_web_serves_the_installed_page(installed, browser):
    """`keras-vae serve-web conv_vae` from the wheel in a folder outside the checkout: the page,
    with the onnxruntime-web files the wheel ships (exactly those it loads; nothing is fetched from
    elsewhere), decodes the samples as onnxruntime does in Python; --stop-after ends it with a
    "stopped" line and exit code 0."""
    bin_dir, work = installed
    [page_dir] = (bin_dir.parent / "lib").glob("python3.*/site-packages/keras_vae/web")
    shipped = {p.relative_to(page_dir).as_posix() for p in (page_dir / "node_modules").rglob("*") if p.is_file()}
    command = [bin_dir / "keras-vae", "serve-web", "conv_vae", "--port", "0", "--stop-after", "45"]
    with serve_web(command, work, env_of(bin_dir), work / "serve-web.stderr") as served:
        exported = served["printed"][0].split(maxsplit=1)
        onnx_file = work / exported[1].strip()
        # exported now, or by an earlier test's command in this folder
        assert exported[0] in ("exported", "using") and onnx_file.is_relative_to(work / "runs/conv_vae/pretrained")
        requests = []
        for page in open_page(browser, served["url"], requests=requests):
            settled(page)
            assert page.get_attribute("body", "data-state") == "ready" and page.is_hidden("#error")
            assert "latent 16, images 28×28×1" in page.inner_text("#info")
            _, _, drawn = check_samples(page, onnx_file)
            assert len({d.tobytes() for d in drawn}) == 16
        assert all(url.startswith(served["url"]) for url in requests), requests
        runtime = {url.removeprefix(served["url"]) for url in requests if "/node_modules/" in url}
        assert runtime == {p for p in shipped if p.startswith("node_modules/onnxruntime-web/dist/")}
        code, after = finished(served, timeout=90)
    assert code == 0 and after[-1] == "stopped after 45 s\n", after
