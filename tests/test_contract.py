"""Code outside keras_vae/models/ talks to a model only through what `ZooModel` declares: every
attribute read on a variable named `model` (or `self.model`, `*_model`) is declared by ZooModel
or is public keras.Model API."""

import ast
from pathlib import Path

import keras

from keras_vae.models.base import ZooModel

PACKAGE = Path(__file__).resolve().parents[1] / "keras_vae"
MODEL_NAMES = {"model", "trained", "loaded"}  # variables that hold a zoo model


def holds_model(node):
    """`model`, `self.model`, `run.model`: an expression naming a model."""
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    return name in MODEL_NAMES


def model_reads(source):
    """[(line, attribute)] of every `<model>.attribute` and `getattr(<model>, "attribute", ...)`
    in `source`."""
    reads = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and holds_model(node.value):
            reads.append((node.lineno, node.attr))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and len(node.args) >= 2
            and holds_model(node.args[0])
            and isinstance(node.args[1], ast.Constant)
        ):
            reads.append((node.lineno, node.args[1].value))
    return reads


def instance_attributes(cls):
    """The names `cls.__init__` assigns on self (seed, noise, ...)."""
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(cls.__init__)))
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    }


def declared():
    """ZooModel's names and keras.Model's public ones (of an instance: built, compiled, ...)."""
    keras_api = {name for name in dir(keras.Model()) if not name.startswith("_")} | {"optimizer"}  # once compiled
    return set(dir(ZooModel)) | instance_attributes(ZooModel) | keras_api


def undeclared_reads(paths):
    known = declared()
    return [
        f"{path.relative_to(PACKAGE.parent)}:{line}: model.{attr}"
        for path in paths
        for line, attr in model_reads(path.read_text())
        if attr not in known
    ]


def outside_models():
    """Every module above the models. core is below them: its `model` is not a ZooModel (in
    core/iwae.py a LatentModel)."""
    return sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in ("models", "core"))


def test_the_checker_finds_an_undeclared_read():
    """The old runner/figures.py read `model.corrupt`, which ZooModel does not declare."""
    assert sorted(model_reads("def f(model):\n    return model.corrupt(x), self.model.figures\n")) == [
        (2, "corrupt"),
        (2, "figures"),
    ]
    assert model_reads('needed = getattr(model, "frames_needed", 2)') == [(1, "frames_needed")]
    assert "corrupt" not in declared() and "figures" in declared()


def test_code_outside_the_models_reads_only_declared_model_attributes():
    assert outside_models(), "no modules found"
    undeclared = undeclared_reads(outside_models())
    assert not undeclared, "attributes ZooModel does not declare:\n" + "\n".join(undeclared)
