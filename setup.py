"""The build's one step beyond pyproject.toml: the browser page (`keras_vae.web`, the repository's
export/web/ through a symlink) ships with the onnxruntime-web files it loads, which come from
export/web/node_modules (`npm ci` there installs what package-lock.json pins). A wheel or sdist is
not built without them: every package-data pattern of `keras_vae.web` (the page) and
`keras_vae.web.node_modules` (those files) must match a file, and the onnxruntime-web there must be
the version package-lock.json pins. An editable install is not checked (it
serves export/web/ itself, so `npm ci` can come later)."""

import json
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

PAGE_DIR = Path(__file__).resolve().parent / "keras_vae" / "web"
PAGE_PACKAGES = {"keras_vae.web": PAGE_DIR, "keras_vae.web.node_modules": PAGE_DIR / "node_modules"}
RUNTIME = "onnxruntime-web"


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


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
