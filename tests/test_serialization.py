"""Every model class writes its own `get_config`, and none leaves out a constructor argument.

`ZooModel.get_config` gives only `seed`; each class whose `__init__` adds arguments adds them in
its own `get_config`. A forgotten one would reload with its default, silently: this test builds
every zoo entry (and every later stage's model, the PixelCNN priors) at its test size and checks
that the config names every argument that `constructor_args` finds in the class's signatures.
"""

import functools
import json

import pytest

import keras_vae.models  # noqa: F401  (registers every model class)
from keras_vae.catalogue import entries
from keras_vae.catalogue.entries import read_entry
from keras_vae.core.registration import MODEL_CLASSES, constructor_args
from keras_vae.models import VAE
from keras_vae.runner import builder


@functools.cache
def zoo_models():
    """{class name: [(where it comes from, model)]} for every entry and every later stage."""
    models = {}
    for name in entries.entry_names():
        model = builder.build(name, compile=False, **read_entry(name).get("test_overrides", {}))
        models.setdefault(type(model).__name__, []).append((name, model))
        for stage in model.stages:
            staged = model.stage_model(stage)
            models.setdefault(type(staged).__name__, []).append((f"{name}:{stage}", staged))
    return models


def missing_args(model):
    """The constructor arguments of `type(model)` that its config leaves out."""
    config = model.get_config()
    return [arg for arg in constructor_args(type(model)) if arg not in config]


@pytest.mark.parametrize("class_name", sorted(MODEL_CLASSES))
def test_get_config_names_every_constructor_argument(class_name):
    cls = MODEL_CLASSES[class_name]
    built = zoo_models().get(class_name) or [("defaults", cls())]  # a class no entry builds: its defaults
    for where, model in built:
        assert missing_args(model) == [], f"{class_name}.get_config ({where}) leaves out these arguments"
        config = model.get_config()
        json.dumps(config)  # plain JSON, as a .keras file stores it
        assert type(model).from_config(config).get_config() == config, where


def test_a_forgotten_argument_is_caught():
    class Forgetful(VAE):  # not registered: it stays out of MODEL_CLASSES
        def __init__(self, extra=1, **kwargs):
            super().__init__(**kwargs)
            self.extra = extra

    assert missing_args(Forgetful(latent_dim=2, hidden_sizes=[4])) == ["extra"]


def test_the_stored_constructor_defaults_are_the_classes_own():
    """`--set` is checked against catalogue/constructors.json, without importing the models: it
    must say what the classes say (rewrite it with `python -m keras_vae.catalogue.constructors`)."""
    from keras_vae.catalogue import constructors

    assert constructors.stored() == constructors.measured()
