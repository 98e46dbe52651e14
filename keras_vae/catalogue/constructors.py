"""The constructor defaults of every model class, stored in constructors.json, so that a run's
settings (`--set`) are checked without importing the models, and with them TensorFlow.

`python -m keras_vae.catalogue.constructors` rewrites the file from the classes;
tests/test_serialization.py checks that it matches them.
"""

import functools
import inspect
import json
from pathlib import Path

TABLE = Path(__file__).with_name("constructors.json")


@functools.cache
def stored():
    """{class name: {argument: default}} as constructors.json holds it (arguments with a default only)."""
    return json.loads(TABLE.read_text())


def measured():
    """The table as the registered classes define it now (imports the models, and TensorFlow)."""
    import keras_vae.models  # noqa: F401  (importing the families registers every class)
    from keras_vae.core.registration import MODEL_CLASSES, constructor_args, plain

    return {
        name: {
            key: plain(value) for key, value in constructor_args(cls).items() if value is not inspect.Parameter.empty
        }
        for name, cls in sorted(MODEL_CLASSES.items())
    }


if __name__ == "__main__":
    TABLE.write_text(json.dumps(measured(), indent=1) + "\n")
    print(f"wrote {TABLE}")
