"""How a model class becomes known: to Keras (so `.keras` files reload) and to the zoo, by name.

`@register_model` is the one registration: it registers the class with Keras under
`keras_vae>ClassName` and records it in `MODEL_CLASSES`, which `keras_vae.catalogue` reads to
turn a zoo entry's `"class"` into a class. Renamed classes keep their old Keras names
(`keras_vae.core.renamed`). A class is registered when its module is imported:
`keras_vae.models` imports every family explicitly.
"""

import inspect

import keras

from keras_vae.core.renamed import RENAMED

MODEL_CLASSES = {}


def register_model(cls):
    """Class decorator: serializable by Keras under `keras_vae>Name` and known to the zoo.

    Args:
        cls: a `keras.Model` subclass (a `ZooModel`).

    Returns:
        `cls`, registered.
    """
    cls = keras.saving.register_keras_serializable(package="keras_vae")(cls)
    MODEL_CLASSES[cls.__name__] = cls
    for old, (new, implied) in RENAMED.items():
        if new == cls.__name__:
            keras.saving.get_custom_objects()[f"keras_vae>{old}"] = former_name(cls, implied)
    return cls


def former_name(cls, implied):
    """What Keras finds under a renamed class's old name: `from_config` builds `cls` with the
    arguments the old class implied (`keras_vae.core.renamed.RENAMED`)."""

    class Former:
        @classmethod
        def from_config(cls_, config):
            return cls.from_config({**config, **implied})

    Former.__name__ = f"Former{cls.__name__}"
    return Former


def constructor_args(cls):
    """Every named constructor argument of `cls` and its bases, with its default.

    Walks the MRO (mixins, then bases, whose `__init__` forwards `**kwargs`) up to
    `keras.Model`; an argument without a default maps to `inspect.Parameter.empty`.

    Args:
        cls: a model class.

    Returns:
        {argument name: default}, the subclass's own arguments first.
    """
    args = {}
    for klass in cls.__mro__:
        if klass is keras.Model:
            break
        if "__init__" not in vars(klass):
            continue
        for p in inspect.signature(klass.__init__).parameters.values():
            if p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD:
                args.setdefault(p.name, p.default)
    return args
