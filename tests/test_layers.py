"""The package's layers import one way (README, "Layout"): a layer imports only the layers below it,
and no two modules import each other, directly or round a loop, at module level or deferred."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "keras_vae"
# Lowest first. The top layer holds the programs: the CLI, the bench, the Python API and the
# reproduction scripts (`python -m keras_vae.pretrain`, `python -m keras_vae.judge` and its
# sample-quality metrics, sample_quality.py).
LAYERS = (
    ("core",),
    ("models",),
    ("catalogue",),
    ("data",),
    ("runner",),
    ("export",),
    ("cli", "bench", "zoo", "pretrain", "judge", "sample_quality"),
)


def layer_of(module):
    """The layer index of `keras_vae.<top>...`; None for the package itself."""
    parts = module.split(".")
    if len(parts) < 2:
        return None
    return next(i for i, tops in enumerate(LAYERS) if parts[1] in tops)


def modules():
    """{module name: path} of every module in the package."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(path, module, known):
    """The keras_vae modules `path` imports anywhere in it (module level or inside functions)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([base] if base else [])])
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
    return targets


def graph():
    known = modules()
    return {module: imports(path, module, known) for module, path in known.items()}


def test_every_module_has_a_layer():
    unplaced = [
        m for m in modules() if m != "keras_vae" and m.split(".")[1] not in {t for tops in LAYERS for t in tops}
    ]
    assert not unplaced, f"modules outside every layer (add them to LAYERS and the README): {unplaced}"


def test_no_import_reaches_a_higher_layer():
    upward = [
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, targets in graph().items()
        if module != "keras_vae"  # the package registers the models with Keras (keras_vae/__init__.py)
        for target in targets
        if layer_of(target) is not None and layer_of(target) > layer_of(module)
    ]
    assert not upward, "imports against the layers:\n" + "\n".join(sorted(upward))


def cycles(edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_cycles_finds_a_loop():
    """The checker itself: a two-module loop is reported, a chain is not."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert cycles(graph()) == []


# Run in a fresh interpreter: import a layer's modules with the package's Keras hook off (it
# registers the models once Keras loads, for `load_model`), then list the keras_vae layers loaded.
PROBE = """
import importlib, json, sys
import keras_vae
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_RegisterAfterKeras"]
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted({m.split(".")[1] for m in sys.modules if m.startswith("keras_vae.")})))
"""


@pytest.mark.parametrize("layer", range(len(LAYERS) - 1), ids=[tops[0] for tops in LAYERS[:-1]])
def test_importing_a_layer_loads_no_layer_above_it(layer):
    names = sorted(
        m for m in modules() if m != "keras_vae" and m.split(".")[1] in LAYERS[layer] and not m.endswith("__main__")
    )
    result = subprocess.run([sys.executable, "-c", PROBE, *names], capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    above = sorted(top for top in loaded if layer_of(f"keras_vae.{top}") > layer)
    assert not above, f"importing {LAYERS[layer]} loads {above}"


def test_private_keras_api_is_all_present():
    """Every private Keras/TF name of keras_vae.core.keras_internals exists in this Keras."""
    from keras_vae.core import keras_internals

    assert keras_internals.missing() == [], (
        f"this Keras lacks {keras_internals.missing()}, which keras_vae.core.keras_internals uses: "
        "pin keras to the tested range (pyproject.toml) or update the adapter"
    )


def test_no_private_keras_api_outside_the_adapter():
    private = (
        "_flatten_layers",
        "_maybe_symbolic_build",
        "_symbolic_build",
        "_distribute_strategy",
        "_in_multi_worker_mode",
        "_momentums",
        "_velocities",
        "_get_variable_index",
    )
    users = [
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "keras_internals.py"
        for name in private
        if name in path.read_text()
    ]
    assert not users, users
