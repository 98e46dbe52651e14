"""What a zoo model declares, so that code outside `models/` asks instead of branching on classes.

- `Part`: a piece that exports alone (decoder, encoder, prior, rollout step): its serving
  function, its named inputs with dtypes and value ranges, its named outputs.
- `TensorInput`: one named input of a part, and how to draw valid values for it (export checks
  feed fresh draws to the Keras model and to the artifact and compare).
- `Term`: a logged or evaluated quantity, its units and meaning, defined once by the model that
  produces it and read from there by `evaluate`, the model cards and the CLI legend.
"""

import dataclasses
from typing import Callable

# What the values of an input are, so a caller can draw valid ones.
VALUES = ("normal", "unit", "index")


@dataclasses.dataclass(frozen=True)
class TensorInput:
    """A named input tensor of shape [batch, *shape].

    values: "normal" (N(0, 1) draws: latents, noise), "unit" (in [0, 1]: images) or "index"
    (integers in [0, classes): labels, code indices; dtype int32).
    """

    name: str
    shape: tuple
    dtype: str = "float32"
    values: str = "normal"
    classes: int | None = None

    def __post_init__(self):
        if self.values not in VALUES:
            raise ValueError(f"values must be one of {VALUES}, got {self.values!r}")
        if (self.values == "index") != (self.classes is not None):
            raise ValueError("an 'index' input needs classes, and only it has them")

    def draw(self, rng, batch):
        """`batch` valid values as a NumPy array of this input's dtype and shape."""
        shape = (batch, *self.shape)
        if self.values == "index":
            return rng.integers(0, self.classes, size=shape).astype(self.dtype)
        x = rng.standard_normal(shape) if self.values == "normal" else rng.uniform(size=shape)
        return x.astype(self.dtype)

    def describe(self):
        """Plain JSON for artifact metadata (the ONNX consumer and the web page read it)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


@dataclasses.dataclass(frozen=True)
class Part:
    """A piece of a model that exports alone.

    function: keyword arguments named as `inputs` -> {output name: tensor}; deterministic (noise
    enters as an input). module: the sub-model (or model, or a tuple of layers) whose variables
    the artifact carries.
    outputs: output name -> shape without the batch axis (all float32). metadata: what a consumer
    needs beyond the interface (latent_dim, image_shape, ...), written into the artifact.
    """

    name: str
    function: Callable
    inputs: tuple
    outputs: dict
    module: object
    metadata: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Term:
    """A quantity a model logs or evaluates: per example unless its units say otherwise."""

    units: str
    description: str

    def __str__(self):
        return f"{self.description} ({self.units})"


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of a sweep report (`ZooModel.report_columns`): an evaluated metric.

    name: the metric's key in metrics.json; header: the column's title, "{k}" standing for the
    importance samples; digits: decimals of a float; of: a metric the value is shown out of
    ("3 / 5" active units of latent_dim).
    """

    name: str
    header: str
    digits: int = 1
    of: str | None = None

    def cell(self, row):
        """The value of this column in `row` (a dict of metrics) as text; "-" if it has none."""
        value = row.get(self.name)
        if value is None:
            return "-"
        if self.of is not None:
            return f"{value} / {row[self.of]}"
        return f"{value:.{self.digits}f}" if isinstance(value, float) else str(value)


NATS = "nats per example"
