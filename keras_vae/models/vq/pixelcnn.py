"""`PixelCNN`: the gated PixelCNN prior over a grid of discrete codes (van den Oord, Kalchbrenner,
Vinyals, Espeholt, Graves & Kavukcuoglu 2016, "Conditional Image Generation with PixelCNN
Decoders"), the prior of a VQ-VAE (van den Oord, Vinyals & Kavukcuoglu 2017).

    p(c) = prod_i p(c_i | c_<i),   i in raster order over the grid [H, W]
    loss = -log p(c) = sum_i CE(logits_i, c_i), nats per example

Codes: int32 [B, H, W] in [0, num_codes). Each code is embedded (`filters` wide), then
`num_layers` gated layers run two stacks: the vertical stack sees the rows above, the horizontal
stack the codes to the left on the current row and, through a 1x1 link, the vertical stack; so
there is no blind spot. The first layer (mask "A") excludes the current position, later layers
(mask "B") include it, whose features only summarize earlier codes by then. Each layer gates
tanh(W_f * x) * sigmoid(W_g * x). With kernel k and L layers the logits at (r, c) see rows
r - L*(k//2) .. r - 1 at columns c -+ L*(k//2), and (r, c - L*(k//2) .. c - 1): every earlier
position of an H x W grid once L*(k//2) >= max(H, W) - 1 (6 layers of 3x3 for a 7x7 grid).

Conditioned (VQ-VAE-2's bottom prior given the top codes; Razavi, van den Oord & Vinyals 2019):
a second int32 grid [B, h, w] in [0, condition_codes) whose embedding goes through one unmasked
conv (the condition is given, not generated: every position may see all of it) and a transposed
conv of stride H/h x W/w up to the grid, and enters every gated layer as the conditional bias
V * s of the paper.

Masks are constants multiplied into the kernels, so the exported network is plain Conv.
`sample_from_uniforms` fixes the sampling rule that the ONNX and browser consumers repeat.
"""

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_vae.core.checks import checked, positive_ints
from keras_vae.core.contract import NATS, Part, TensorInput, Term
from keras_vae.core.errors import ConfigError, UserError
from keras_vae.core.registration import plain, register_model
from keras_vae.models.base import ZooModel

BITS = "bits per code"
MASK_TYPES = ("A", "B")
STACKS = ("vertical", "horizontal")


def causal_mask(kernel_shape, mask_type, stack):
    """{0, 1} float32 [kh, kw, 1, 1] over a kernel centred on the output position (odd sides).

    vertical: the rows above the centre, all columns; "B" adds the centre row (whole).
    horizontal: the centre row left of the centre; "B" adds the centre.

    Args:
        kernel_shape: (kh, kw), both odd.
        mask_type: "A" (excludes the centre) or "B" (includes it).
        stack: "vertical" or "horizontal".

    Returns:
        np.ndarray float32 [kh, kw, 1, 1] of 0s and 1s.
    """
    kh, kw = kernel_shape
    mask = np.zeros((kh, kw, 1, 1), np.float32)
    keep = 1 if mask_type == "B" else 0
    if stack == "vertical":
        mask[: kh // 2 + keep] = 1
    else:
        mask[kh // 2, : kw // 2 + keep] = 1
    return mask


@keras.saving.register_keras_serializable(package="keras_vae")
class MaskedConv2D(keras.layers.Conv2D):
    """A stride-1 "same" Conv2D whose kernel is multiplied by a constant causal mask.

    [B, H, W, C] -> [B, H, W, filters]. stack "vertical" (kernel k x k) or "horizontal"
    (kernel 1 x k); mask "A" excludes the output's own position, "B" includes it (`causal_mask`).
    The mask is not a weight: it is rebuilt from the config.

    Args:
        filters: the output channels.
        kernel_size: an int k or (kh, kw); odd sides, 1 x k for "horizontal".
        mask_type: "A" or "B".
        stack: "vertical" or "horizontal".
        **kwargs: `keras.layers.Conv2D` arguments, but padding "same", strides 1, dilation 1 only.

    Raises:
        ConfigError: an unknown mask_type or stack, other padding, strides or dilation, or
            kernel sides that are even (or a horizontal kernel taller than 1).
    """

    def __init__(self, filters, kernel_size, mask_type="B", stack="vertical", **kwargs):
        if mask_type not in MASK_TYPES:
            raise ConfigError(f"mask_type must be one of {MASK_TYPES}, got {mask_type!r}")
        if stack not in STACKS:
            raise ConfigError(f"stack must be one of {STACKS}, got {stack!r}")
        # A config round trip hands these back; any other value would break the causal masks.
        padding, strides, dilation = (
            kwargs.pop(k, d) for k, d in (("padding", "same"), ("strides", 1), ("dilation_rate", 1))
        )
        if padding != "same" or np.any(np.asarray(strides) != 1) or np.any(np.asarray(dilation) != 1):
            raise ConfigError("MaskedConv2D is stride 1, dilation 1, padding 'same' only")
        super().__init__(filters, kernel_size, padding="same", **kwargs)
        kh, kw = self.kernel_size
        if kh % 2 == 0 or kw % 2 == 0 or (stack == "horizontal" and kh != 1):
            raise ConfigError(f"a {stack} masked kernel needs odd sides (1 x k if horizontal), got {self.kernel_size}")
        self.mask_type = mask_type
        self.stack = stack
        self.mask = causal_mask(self.kernel_size, mask_type, stack)

    def convolution_op(self, inputs, kernel):
        return super().convolution_op(inputs, kernel * ops.cast(self.mask, kernel.dtype))

    def get_config(self):
        return {**super().get_config(), "mask_type": self.mask_type, "stack": self.stack}


def gate(x):
    """tanh(a) * sigmoid(b) of the two halves of the last axis.

    Args:
        x: [..., 2p].

    Returns:
        [..., p], x's dtype.
    """
    a, b = ops.split(x, 2, axis=-1)
    return ops.tanh(a) * ops.sigmoid(b)


@keras.saving.register_keras_serializable(package="keras_vae")
class GatedMaskedConv(keras.layers.Layer):
    """One gated layer of both stacks (the paper's figure 2), on [vertical, horizontal(, condition)]:
    each [B, H, W, filters] -> [vertical, horizontal] [B, H, W, filters].

        v = V_k(vertical)                                  (k x k, rows above; "B": and this row)
        vertical'   = gate(v + C_v(condition))
        horizontal' = H_out(gate(H_k(horizontal) + link(v) + C_h(condition))) (+ horizontal if "B")

    H_k is 1 x k (left of the position; "B": and the position). The link reads v at the same
    position: fine, because after a first "A" layer the vertical features of row r only depend on
    rows above r. The residual is left out of an "A" layer, where it would pass the current code.

    Args:
        filters: the channels of both stacks' outputs (and of the horizontal input with "B").
        kernel_size: the odd side k of the vertical k x k and horizontal 1 x k kernels.
        mask_type: "A" (the first layer) or "B".
        conditioned: whether a third input, the condition features [B, H, W, c], adds its bias.
        **kwargs: `keras.layers.Layer` arguments (name, dtype).
    """

    def __init__(self, filters, kernel_size=3, mask_type="B", conditioned=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.mask_type = mask_type
        self.conditioned = conditioned
        wide = 2 * filters  # the two halves the gate multiplies
        self.vertical = MaskedConv2D(wide, kernel_size, mask_type, "vertical", name="vertical")
        self.horizontal = MaskedConv2D(wide, (1, kernel_size), mask_type, "horizontal", name="horizontal")
        self.link = keras.layers.Conv2D(wide, 1, name="vertical_to_horizontal")
        self.horizontal_out = keras.layers.Conv2D(filters, 1, name="horizontal_out")
        if conditioned:
            self.condition_vertical = keras.layers.Conv2D(wide, 1, use_bias=False, name="condition_vertical")
            self.condition_horizontal = keras.layers.Conv2D(wide, 1, use_bias=False, name="condition_horizontal")

    def build(self, input_shape):
        if len(input_shape) != 2 + self.conditioned:
            raise ValueError(f"GatedMaskedConv takes [vertical, horizontal{', condition' if self.conditioned else ''}]")
        vertical, horizontal = tuple(input_shape[0]), tuple(input_shape[1])
        if self.mask_type == "B" and horizontal[-1] != self.filters:
            raise ValueError(f"the residual needs {self.filters} horizontal channels, got {horizontal[-1]}")
        wide = (*vertical[:-1], 2 * self.filters)
        self.vertical.build(vertical)
        self.horizontal.build(horizontal)
        self.link.build(wide)
        self.horizontal_out.build((*horizontal[:-1], self.filters))
        if self.conditioned:
            self.condition_vertical.build(tuple(input_shape[2]))
            self.condition_horizontal.build(tuple(input_shape[2]))

    def call(self, inputs):
        vertical, horizontal = inputs[0], inputs[1]
        v = self.vertical(vertical)
        h = self.horizontal(horizontal) + self.link(v)
        if self.conditioned:
            v_bias, h_bias = self.condition_vertical(inputs[2]), self.condition_horizontal(inputs[2])
        else:
            v_bias = h_bias = 0
        out = self.horizontal_out(gate(h + h_bias))
        if self.mask_type == "B":
            out = out + horizontal
        return [gate(v + v_bias), out]

    def compute_output_shape(self, input_shape):
        return [(*input_shape[0][:-1], self.filters), (*input_shape[1][:-1], self.filters)]

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "mask_type": self.mask_type,
            "conditioned": self.conditioned,
        }


def _grid(name, value):
    sides = positive_ints(name, value)
    if len(sides) != 2:
        raise ConfigError(f"{name} must be [height, width], got {value!r}")
    return sides


@register_model
class PixelCNN(ZooModel):
    """Autoregressive prior p(c) = prod_i p(c_i | c_<i) over an int code grid [B, H, W] in raster
    order, optionally conditioned on a second int grid (VQ-VAE-2's bottom prior given the top codes).

    Batches: {"codes": int32 [B, H, W]} (and "condition": int32 [B, h, w] when conditioned).
    `network` is the functional sub-model codes [, condition] -> logits float32 [B, H, W, num_codes].

    Args:
        grid_shape: (H, W) of the code grid.
        num_codes: the number of code values (the VQ codebook size, >= 2).
        filters: the width of the embedding and of every gated layer.
        num_layers: the gated layers L; the receptive field covers the grid once
            L * (kernel_size // 2) >= max(H, W) - 1.
        kernel_size: the odd kernel side k (>= 3).
        condition_shape: (h, w) of the condition grid, dividing grid_shape; None if unconditioned.
        condition_codes: the number of condition code values (>= 2); given with condition_shape.
        **kwargs: `ZooModel` arguments (seed) and `keras.Model` arguments.

    Raises:
        ConfigError: a value out of range, only one of condition_shape and condition_codes, or a
            grid_shape that is not a multiple of condition_shape.
    """

    loss_names = ("loss",)
    export_default = "prior"  # its one part
    term_docs = {
        "loss": Term(NATS, "-log p(codes [| condition]) under the PixelCNN prior, summed over the grid"),
        "bits_per_code": Term(BITS, "-log2 p(codes [| condition]) divided by the number of grid positions"),
    }

    def __init__(
        self,
        grid_shape=(7, 7),
        num_codes=64,
        filters=64,
        num_layers=6,
        kernel_size=3,
        condition_shape=None,
        condition_codes=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.grid_shape = _grid("grid_shape", grid_shape)
        self.num_codes = checked("num_codes", num_codes, lambda v: v >= 2, "an integer >= 2", kind=int)
        (self.filters,) = positive_ints("filters", [filters])
        (self.num_layers,) = positive_ints("num_layers", [num_layers])
        self.kernel_size = checked(
            "kernel_size", kernel_size, lambda v: v >= 3 and v % 2, "an odd integer >= 3", kind=int
        )
        if (condition_shape is None) != (condition_codes is None):
            raise ConfigError("condition_shape and condition_codes go together: give both or neither")
        self.condition_shape = None if condition_shape is None else _grid("condition_shape", condition_shape)
        self.condition_codes = (
            None
            if condition_codes is None
            else checked("condition_codes", condition_codes, lambda v: v >= 2, "an integer >= 2", kind=int)
        )
        if self.conditioned and any(g % c for g, c in zip(self.grid_shape, self.condition_shape)):
            raise ConfigError(
                f"grid_shape {list(self.grid_shape)} must be an integer multiple of "
                f"condition_shape {list(self.condition_shape)}"
            )

    def get_config(self):
        return {
            **super().get_config(),
            "grid_shape": plain(self.grid_shape),
            "num_codes": self.num_codes,
            "filters": self.filters,
            "num_layers": self.num_layers,
            "kernel_size": self.kernel_size,
            "condition_shape": plain(self.condition_shape),
            "condition_codes": self.condition_codes,
        }

    @property
    def conditioned(self):
        return self.condition_shape is not None

    @property
    def batch_keys(self):
        return ("codes", "condition") if self.conditioned else ("codes",)

    @property
    def positions(self):
        return math.prod(self.grid_shape)

    # -- network ------------------------------------------------------------------------------
    def build_networks(self):
        self.network = self.build_network()

    def build_network(self):
        codes = keras.Input(self.grid_shape, dtype="int32", name="codes")
        x = keras.layers.Embedding(self.num_codes, self.filters, name="code_embedding")(codes)
        inputs, condition = [codes], []
        if self.conditioned:
            given = keras.Input(self.condition_shape, dtype="int32", name="condition")
            s = keras.layers.Embedding(self.condition_codes, self.filters, name="condition_embedding")(given)
            s = keras.layers.Conv2D(
                self.filters, self.kernel_size, padding="same", activation="relu", name="condition_context"
            )(s)
            # Kernel = stride: each of the factor x factor positions under a top code gets its own
            # weights (nearest upsampling would not tell them apart), and ONNX pads stay >= 0.
            factor = tuple(g // c for g, c in zip(self.grid_shape, self.condition_shape))
            s = keras.layers.Conv2DTranspose(
                self.filters, factor, strides=factor, activation="relu", name="condition_upsample"
            )(s)
            inputs, condition = [codes, given], [s]
        vertical = horizontal = x
        for i in range(self.num_layers):
            vertical, horizontal = GatedMaskedConv(
                self.filters, self.kernel_size, "A" if i == 0 else "B", self.conditioned, name=f"gated_{i}"
            )([vertical, horizontal, *condition])
        h = keras.layers.Activation("relu", name="head_relu")(horizontal)
        h = keras.layers.Conv2D(self.filters, 1, activation="relu", name="head")(h)
        logits = keras.layers.Conv2D(self.num_codes, 1, dtype="float32", name="logits")(h)
        return keras.Model(inputs if self.conditioned else codes, logits, name="prior")

    def logits(self, codes, condition=None, training=False):
        """The logits of p(c_i | c_<i [, condition]) at every position i.

        Args:
            codes: int [B, H, W] in [0, num_codes).
            condition: int [B, h, w] in [0, condition_codes) if conditioned, else None.
            training: whether the network runs in training mode.

        Returns:
            float32 [B, H, W, num_codes].

        Raises:
            UserError: a condition missing for a conditioned prior, or given to an unconditioned one.
        """
        codes = tf.cast(codes, tf.int32)
        if self.conditioned != (condition is not None):
            raise UserError(f"this PixelCNN {'needs' if self.conditioned else 'takes no'} condition grid")
        inputs = [codes, tf.cast(condition, tf.int32)] if self.conditioned else codes
        return tf.cast(self.network(inputs, training=training), tf.float32)

    def call(self, batch, training=False):
        batch = batch if isinstance(batch, dict) else {"codes": batch}
        return self.logits(batch["codes"], batch.get("condition"), training=training)

    def loss_terms(self, batch, training=False):
        """{"loss": float32 [B]}: -log p(codes [| condition]), nats per example.

        Args:
            batch: {"codes": int32 [B, H, W]} (and "condition": int32 [B, h, w] when conditioned).
            training: whether the network runs in training mode.
        """
        codes = tf.cast(batch["codes"], tf.int32)
        logits = self.logits(codes, batch.get("condition"), training=training)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=codes, logits=logits)
        return {"loss": tf.reduce_sum(nll, axis=[1, 2])}

    def evaluation_terms(self, batch, terms):
        return {"bits_per_code": terms["loss"] / (self.positions * math.log(2))}

    def evaluation_header(self):
        return {"units": f"{NATS} (bits_per_code: {BITS})", "order": "raster"}

    # -- sampling -----------------------------------------------------------------------------
    def sample_from_uniforms(self, uniforms, condition=None):
        """int32 [n, H, W] codes drawn position by position in raster order (H * W network calls).

        uniforms: [n, H * W] (or [n, H, W]) in [0, 1), one per position in raster order. At
        position i, with p = softmax(logits_i) and cdf = cumsum(p), both float32, the code is the
        inverse CDF at u = uniforms[:, i]: the smallest k with cdf[k] > u, i.e. the number of k
        with cdf[k] <= u, clipped to num_codes - 1 (for u above a rounded cdf[-1] < 1).

        Args:
            uniforms: float [n, H * W] or [n, H, W] in [0, 1).
            condition: int [n, h, w] when conditioned (`condition_grid`), else None.

        Returns:
            int32 tensor [n, H, W].

        Raises:
            UserError: uniforms not one per grid position.
        """
        u = np.asarray(uniforms, np.float32)
        n = u.shape[0]
        u = u.reshape(n, -1)
        if u.shape[1] != self.positions:
            raise UserError(f"uniforms must be [n, {self.positions}] (one per grid position), got {np.shape(uniforms)}")
        condition = None if condition is None else tf.constant(np.asarray(condition, np.int32))
        codes = np.zeros((n, *self.grid_shape), np.int32)
        width = self.grid_shape[1]
        for i in range(self.positions):
            r, c = divmod(i, width)  # positions >= i are zeros here, and the masks make them irrelevant
            codes[:, r, c] = self._inverse_cdf_step(
                codes, condition, tf.constant(u[:, i]), tf.constant(r), tf.constant(c)
            )
        return tf.constant(codes)

    @property
    def _inverse_cdf_step(self):
        """The code at (r, c) for each row of a batch, as a tf.function (10x faster than eager)."""
        if getattr(self, "_step", None) is None:

            def step(codes, condition, u, r, c):
                cdf = tf.cumsum(tf.nn.softmax(self.logits(codes, condition)[:, r, c]), axis=-1)
                below = tf.reduce_sum(tf.cast(cdf <= u[:, None], tf.int32), axis=-1)
                return tf.minimum(below, self.num_codes - 1)

            self._step = tf.function(step, autograph=False)
        return self._step

    def sample(self, n, seed=None, condition=None, **conditions):
        """int32 [n, H, W] codes from the prior; the same seed gives the same codes. A conditioned
        prior takes `condition`: int [h, w] (shared) or [n, h, w].

        Args:
            n: the number of code grids.
            seed: int for repeatable draws (stateless uniforms), or None.
            condition: the condition codes of a conditioned prior, else None.
            **conditions: none are taken.

        Returns:
            int32 [n, H, W] in [0, num_codes).

        Raises:
            UserError: other conditions, or a condition missing, unexpected or malformed.
        """
        if conditions:
            raise UserError(f"PixelCNN takes only condition=, not {', '.join(sorted(conditions))}")
        shape = (n, self.positions)
        uniforms = tf.random.uniform(shape) if seed is None else tf.random.stateless_uniform(shape, seed=[seed, 0])
        return self.sample_from_uniforms(uniforms, self.condition_grid(n, condition))

    def condition_grid(self, n, condition):
        """The condition for n samples, checked.

        Args:
            n: the number of samples.
            condition: int [h, w] (shared) or [n, h, w] in [0, condition_codes), or None.

        Returns:
            np.ndarray int32 [n, h, w]; None when unconditioned.

        Raises:
            UserError: a condition missing for a conditioned prior, given to an unconditioned one,
                or of the wrong shape, dtype or range.
        """
        if not self.conditioned:
            if condition is not None:
                raise UserError("this PixelCNN is unconditional: it takes no condition")
            return None
        if condition is None:
            raise UserError(f"this PixelCNN needs condition=, int codes [{', '.join(map(str, self.condition_shape))}]")
        value = np.asarray(condition)
        if (
            value.shape not in (self.condition_shape, (n, *self.condition_shape))
            or not np.issubdtype(value.dtype, np.integer)
            or value.min() < 0
            or value.max() >= self.condition_codes
        ):
            raise UserError(
                f"condition must be integers in [0, {self.condition_codes - 1}] of shape "
                f"{list(self.condition_shape)} or [{n}, ...], got shape {list(value.shape)}"
            )
        return np.broadcast_to(value, (n, *self.condition_shape)).astype(np.int32)

    # -- export -------------------------------------------------------------------------------
    def export_parts(self):
        inputs = [TensorInput("codes", self.grid_shape, "int32", "index", self.num_codes)]
        if self.conditioned:
            inputs.append(TensorInput("condition", self.condition_shape, "int32", "index", self.condition_codes))

        def prior(codes, condition=None):
            return {"logits": self.logits(codes, condition)}

        metadata = {
            "grid_shape": list(self.grid_shape),
            "num_codes": self.num_codes,
            "condition_shape": None if self.condition_shape is None else list(self.condition_shape),
            "condition_codes": self.condition_codes,
            "order": "raster",
            "sampling": "code_i = min(#{k: cumsum(softmax(logits_i))[k] <= u_i}, num_codes - 1), float32",
        }
        return [
            Part("prior", prior, tuple(inputs), {"logits": (*self.grid_shape, self.num_codes)}, self.network, metadata)
        ]
