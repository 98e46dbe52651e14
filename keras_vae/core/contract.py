"""What a zoo model declares, so that code outside `models/` asks instead of branching on classes.

- `Part`: a piece that exports alone (decoder, encoder, prior, rollout step): its serving
  function, its named inputs with dtypes and value ranges, its named outputs. A model's
  `export_default` names the part `export` writes without --part (or "all" of them).
- `TensorInput`: one named input of a part, and how to draw valid values for it (export checks
  feed fresh draws to the Keras model and to the artifact and compare).
- `Term`: a logged or evaluated quantity, its units and meaning, defined once by the model that
  produces it and read from there by `evaluate`, the model cards and the CLI legend.
"""

import dataclasses
from collections.abc import Callable

# What the values of an input are, so a caller can draw valid ones.
VALUES = ("normal", "unit", "index")


@dataclasses.dataclass(frozen=True)
class TensorInput:
    """A named input tensor of shape [batch, *shape].

    Args:
        name: the input's name in the exported signature ("z", "images", "codes", ...).
        shape: its shape without the batch axis, e.g. (28, 28, 1) or (latent_dim,).
        dtype: "float32" (the default) or "int32" for indices.
        values: "normal" (N(0, 1) draws: latents, noise), "unit" (in [0, 1]: images) or "index"
            (integers in [0, classes): labels, code indices; dtype int32).
        classes: the number of classes of an "index" input; None for the others.

    Raises:
        ValueError: `values` is unknown, or `classes` is given without "index" (or missing with it).
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
        """`batch` valid values as a NumPy array of this input's dtype and shape.

        Args:
            rng: a `numpy.random.Generator`.
            batch: the number of values, the leading axis.

        Returns:
            np.ndarray [batch, *shape] of `dtype`: N(0, 1) draws, uniform draws in [0, 1), or
            integers in [0, classes), as `values` says.
        """
        shape = (batch, *self.shape)
        if self.values == "index":
            return rng.integers(0, self.classes, size=shape).astype(self.dtype)
        x = rng.standard_normal(shape) if self.values == "normal" else rng.uniform(size=shape)
        return x.astype(self.dtype)

    def describe(self):
        """Plain JSON for artifact metadata (the ONNX consumer and the web page read it).

        Returns:
            dict of the fields, tuples as lists.
        """
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


@dataclasses.dataclass(frozen=True)
class Part:
    """A piece of a model that exports alone.

    Args:
        name: the part's name, and its artifact's ("decoder", "encoder", "prior", ...).
        function: keyword arguments named as `inputs` -> {output name: tensor}; deterministic
            (noise enters as an input).
        inputs: tuple of `TensorInput`, in signature order.
        outputs: output name -> shape without the batch axis (all float32).
        module: the sub-model (or model, or a tuple of layers) whose variables the artifact carries.
        metadata: what a consumer needs beyond the interface (latent_dim, image_shape, ...),
            written into the artifact; plain JSON.
    """

    name: str
    function: Callable
    inputs: tuple
    outputs: dict
    module: object
    metadata: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Term:
    """A quantity a model logs or evaluates: per example unless its units say otherwise.

    Args:
        units: e.g. `NATS` ("nats per example"), "per pixel", "count".
        description: what the quantity is, in one line, with its formula where it has one.
    """

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
