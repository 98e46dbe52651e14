"""The build's one step beyond pyproject.toml: the browser page (`keras_vae.web`, the repository's
export/web/ through a symlink) ships with the onnxruntime-web files it loads, which come from
export/web/node_modules (`npm ci` there installs what package-lock.json pins). Where `npm ci` has
not been run, the build fetches package-lock.json's onnxruntime-web tarball from the npm registry
($npm_config_registry, default registry.npmjs.org), checks it against the lock's sha512 integrity,
and unpacks just the shipped files there (for an editable install too), so `pip install .` needs no
Node. A wheel or sdist is not built without them: every package-data pattern of `keras_vae.web` (the
page) and `keras_vae.web.node_modules` (those files) must match a file, and the onnxruntime-web
there must be the version package-lock.json pins. An editable install is not checked (it serves
export/web/ itself)."""

import base64
import hashlib
import io
import json
import os
import tarfile
import tomllib
import urllib.request
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

PAGE_DIR = Path(__file__).resolve().parent / "keras_vae" / "web"
PAGE_PACKAGES = {"keras_vae.web": PAGE_DIR, "keras_vae.web.node_modules": PAGE_DIR / "node_modules"}
RUNTIME = "onnxruntime-web"


def fetch_runtime():
    """Unpack the shipped onnxruntime-web files (pyproject.toml's package data of
    keras_vae.web.node_modules) of package-lock.json's version from the npm registry into
    PAGE_DIR/node_modules, unless they are there already. It runs before setup() because
    setuptools finds the packages (node_modules among them) when setup() starts; an editable
    install gets them too, so its serve-web works without `npm ci`.

    Raises:
        SystemExit: the download fails or its sha512 differs from the lock's integrity.
    """
    folder = PAGE_PACKAGES["keras_vae.web.node_modules"]
    with open(Path(__file__).resolve().parent / "pyproject.toml", "rb") as file:
        wanted = tomllib.load(file)["tool"]["setuptools"]["package-data"]["keras_vae.web.node_modules"]
    if all((folder / name).is_file() for name in wanted):
        return
    locked = json.loads((PAGE_DIR / "package-lock.json").read_text())["packages"][f"node_modules/{RUNTIME}"]
    registry = (
        os.environ.get("npm_config_registry") or os.environ.get("NPM_CONFIG_REGISTRY") or "https://registry.npmjs.org/"
    )
    url = f"{registry.rstrip('/')}/{RUNTIME}/-/{RUNTIME}-{locked['version']}.tgz"
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            tarball = response.read()
    except OSError as error:
        raise SystemExit(
            f"error: the web page needs {RUNTIME} {locked['version']}: fetching {url} failed ({error}); "
            "run `npm ci` in export/web, then build again"
        ) from None
    algorithm, digest = locked["integrity"].split("-", 1)
    if base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode() != digest:
        raise SystemExit(f"error: {url} does not match package-lock.json's integrity {locked['integrity']}")
    with tarfile.open(fileobj=io.BytesIO(tarball)) as archive:
        for name in wanted:  # "onnxruntime-web/dist/x" is "package/dist/x" in the tarball
            member = archive.extractfile("package/" + name.split("/", 1)[1])
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(member.read())
    print(f"fetched {RUNTIME} {locked['version']} from {url} into {folder}")


def check_page(package_data):
    """Raise SystemExit with what to do unless every package-data pattern of PAGE_PACKAGES
    matches a file and the onnxruntime-web there is the version package-lock.json pins.

    Args:
        package_data: the distribution's {package: [glob pattern, ...]}.
    """
    missing = [
        str((folder / pattern).relative_to(PAGE_DIR))
        for package, folder in PAGE_PACKAGES.items()
        for pattern in package_data[package]
        if not any(path.is_file() for path in folder.glob(pattern))
    ]
    if any(RUNTIME in path for path in missing):
        raise SystemExit(
            f"error: the web page's onnxruntime-web files are missing from {PAGE_DIR.resolve()} "
            f"({', '.join(missing)}): run `npm ci` in export/web, then build again"
        )
    if missing:
        raise SystemExit(f"error: the web page is incomplete: {PAGE_DIR.resolve()} has no {', '.join(missing)}")
    locked = json.loads((PAGE_DIR / "package-lock.json").read_text())["packages"][f"node_modules/{RUNTIME}"]["version"]
    installed = json.loads((PAGE_DIR / "node_modules" / RUNTIME / "package.json").read_text())["version"]
    if installed != locked:
        raise SystemExit(
            f"error: export/web/node_modules has {RUNTIME} {installed}, package-lock.json pins {locked}: "
            "run `npm ci` in export/web, then build again"
        )


class BuildPy(build_py):
    def run(self):
        if not self.editable_mode:
            check_page(self.package_data)
        super().run()


class Sdist(sdist):
    def run(self):
        check_page(self.distribution.package_data)
        super().run()


fetch_runtime()
setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
