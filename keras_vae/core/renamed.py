"""Model classes renamed since a run folder or `.keras` file could record them.

Run folders written before the model contract (commit e7216d7) name `DenseVAE` and `ConvVAE`,
which became one `VAE` with an `architecture` argument. Each old name maps to the class that
replaced it and the constructor arguments the old class implied; `keras_vae.core.registration`
registers the old Keras names (`keras_vae>DenseVAE`) to build the new class, as keras-hub does
for its renamed classes, and `keras_vae.runner.config.RunConfig.from_json` reads an old
config.json's "class" the same way. No imports: the catalogue and run configs read it without
TensorFlow.
"""

# {old class name: (the class replacing it, {constructor argument: value the old class implied})}
RENAMED = {
    "DenseVAE": ("VAE", {"architecture": "dense"}),
    "ConvVAE": ("VAE", {"architecture": "conv"}),
}


def current(class_name, params):
    """(class name, params) as today's code takes them, for a name any version recorded.

    Args:
        class_name: a model class name, current or renamed (`RENAMED`).
        params: its constructor arguments, a mapping.

    Returns:
        (the current class name, a dict of params with the implied arguments added).
    """
    if class_name not in RENAMED:
        return class_name, dict(params)
    new, implied = RENAMED[class_name]
    return new, {**params, **implied}
