"""`vq_vae`: the VQ-VAE (van den Oord, Vinyals & Kavukcuoglu 2017) with a PixelCNN prior.

    z_e = encoder(x)                 [B, h, w, D]: a grid of code vectors, h = H / 2**len(filters)
    c   = argmin_k ||z_e - e_k||^2   [B, h, w] int32, the codes; z_q = e_c
    loss = -log p(x | z_q) + ||sg(z_e) - z_q||^2 + beta ||z_e - sg(z_q)||^2   (nats per example)

with a straight-through gradient from z_q to z_e (`VectorQuantizer`; with `ema` the codebook
follows exponential moving averages instead of its loss). Stage two trains a gated PixelCNN
prior p(c) on the frozen encoder's codes of the training split (`stages`: the prior);
`sample` draws codes from it and decodes them.

Evaluation: with the deterministic one-hot posterior q(c | x) of a VQ-VAE, KL(q || p) = -log p(c),
so log p(x | z_q) + log p(c) is the ELBO under the learned prior, a lower bound on log p(x) in
the units of the VAEs' ELBO (nats per image).
"""

import dataclasses
import math

import keras
import numpy as np
import tensorflow as tf

from keras_vae.core.checks import checked, positive_ints
from keras_vae.core.contract import NATS, Part, TensorInput, Term
from keras_vae.core.errors import ConfigError, UserError
from keras_vae.core.registration import plain, register_model
from keras_vae.models.likelihood import ImageModel, bound_headline
from keras_vae.models.vq import figures as vq_figures
from keras_vae.models.vq.pixelcnn import PixelCNN
from keras_vae.models.vq.quantizer import VectorQuantizer, code_statistics


def residual_stack(h, blocks, hidden, name):
    """`blocks` residual blocks (ReLU, 3x3 conv to `hidden`, ReLU, 1x1 conv back) and a ReLU, as in
    the VQ-VAE paper's encoder and decoder.

    Args:
        h: symbolic features [B, h, w, c].
        blocks: the number of residual blocks (0: just the ReLU).
        hidden: the channels of each block's 3x3 conv.
        name: the prefix of the layer names.

    Returns:
        symbolic features [B, h, w, c].
    """
    channels = h.shape[-1]
    for i in range(blocks):
        r = keras.layers.ReLU()(h)
        r = keras.layers.Conv2D(hidden, 3, padding="same", activation="relu", name=f"{name}_res{i}_a")(r)
        r = keras.layers.Conv2D(channels, 1, name=f"{name}_res{i}_b")(r)
        h = keras.layers.Add(name=f"{name}_res{i}")([h, r])
    return keras.layers.ReLU()(h)


def down(h, filters, name):
    """Strided 4x4 convolutions, each halving height and width.

    Args:
        h: symbolic input [B, H, W, C].
        filters: the filters of each stride-2 ReLU conv, in order.
        name: the prefix of the layer names.

    Returns:
        symbolic features [B, H / 2**len(filters), W / 2**len(filters), filters[-1]].
    """
    for i, f in enumerate(filters):
        h = keras.layers.Conv2D(f, 4, strides=2, padding="same", activation="relu", name=f"{name}_down{i}")(h)
    return h


def up(h, filters, channels, name):
    """Transposed 4x4 convolutions doubling height and width, the last one to `channels` raw outputs.

    Args:
        h: symbolic features [B, h, w, c].
        filters: one entry per stride-2 transposed conv; each but the last sets its filters (ReLU).
        channels: the raw outputs of the last (linear) one.
        name: the prefix of the layer names.

    Returns:
        symbolic outputs [B, h * 2**len(filters), w * 2**len(filters), channels].
    """
    for i, f in enumerate(filters):
        last = i == len(filters) - 1
        h = keras.layers.Conv2DTranspose(
            channels if last else f,
            4,
            strides=2,
            padding="same",
            activation=None if last else "relu",
            name=f"{name}_up{i}",
        )(h)
    return h


DISTANCE = "squared distance per example"


def prior_bound(reconstruction, nll, positions):
    """From -log p(x | z_q) and the prior's -log p(c) [B] over `positions` codes per image: prior_nll,
    bits_per_code and the ELBO under the learned prior, log p(x | z_q) + log p(c) (module docstring).

    Args:
        reconstruction: -log p(x | z_q), float32 [B], nats per example.
        nll: -log p(c) under the prior, float32 [B], nats per example.
        positions: the number of codes per image.

    Returns:
        {"prior_nll": [B] nats, "bits_per_code": [B] bits per code, "elbo": [B] nats}.
    """
    return {"prior_nll": nll, "bits_per_code": nll / (math.log(2) * positions), "elbo": -(reconstruction + nll)}


def code_usage(codes, num_codes, suffix=""):
    """perplexity, codes_used and code_counts (one count per code) of int codes [N, ...], names + suffix.

    Args:
        codes: np.ndarray int [N, ...] in [0, num_codes).
        num_codes: the codebook size K.
        suffix: appended to each name ("_top", "_bottom"; "" for one level).

    Returns:
        {"perplexity" + suffix: float, "codes_used" + suffix: int, "code_counts" + suffix: K ints}.
    """
    stats = code_statistics(tf.constant(codes), num_codes)
    return {
        f"perplexity{suffix}": float(stats["perplexity"]),
        f"codes_used{suffix}": int(stats["codes_used"]),
        f"code_counts{suffix}": np.bincount(np.ravel(codes), minlength=num_codes).tolist(),
    }


@register_model
class VQVAE(ImageModel):
    """The VQ-VAE of van den Oord, Vinyals & Kavukcuoglu (2017) with a PixelCNN prior (the module
    docstring): images [B, H, W, C] float32 in [0, 1] -> codes int32 [B, H / s, W / s], s = 2**len(filters).

    Args:
        num_codes: K, the codebook size (>= 2).
        code_dim: D, the size of each code vector (>= 1).
        filters: the filters of the encoder's stride-2 4x4 convs (the decoder mirrors them);
            H and W must divide by 2**len(filters).
        residual_blocks: the residual blocks of the encoder and of the decoder (>= 0).
        residual_hidden: the channels of each residual block's 3x3 conv.
        beta: the commitment weight (the paper's 0.25; >= 0).
        ema: learn the codebook by exponential moving averages (`VectorQuantizer`).
        decay: the moving averages' decay, in (0, 1).
        reinit_unused: restart dead codes at encoder outputs (`VectorQuantizer`).
        prior_filters: the PixelCNN prior's width (`PixelCNN` filters).
        prior_layers: the PixelCNN prior's gated layers.
        **kwargs: `ImageModel` arguments (image_shape, likelihood, ...) and `ZooModel`'s (seed).

    Raises:
        ConfigError: a value out of range, or image sides that do not divide by 2**len(filters).
    """

    stages = ("prior",)
    loss_names = ("loss", "reconstruction", "codebook", "commitment", "perplexity")
    figures = ("reconstructions", "prior_samples", "codebook_usage")
    drawers = {**ImageModel.drawers, "codebook_usage": vq_figures.codebook_usage}
    card_figures = figures
    term_docs = {
        **ImageModel.term_docs,
        "loss": Term(
            "per example",
            "reconstruction (nats) + codebook + beta * commitment (squared distances; without codebook with ema)",
        ),
        "reconstruction": Term(NATS, "-log p(x | z_q), the decoder's negative log-likelihood of the image"),
        "codebook": Term(DISTANCE, "||sg(z_e) - z_q||^2 summed over the code grid: moves the codes to the encoder"),
        "commitment": Term(
            DISTANCE,
            "||z_e - sg(z_q)||^2 summed over the code grid: keeps the encoder near its codes "
            "(equal in value to codebook; the gradients differ)",
        ),
        "perplexity": Term(
            "codes", "exp(entropy of the codes used), per batch in training, over the test split in evaluation"
        ),
        "codes_used": Term("codes", "distinct codes the encoder assigns on the test split"),
        "bce": Term(NATS, "cross-entropy of the decoder mean at the codes, summed over pixels"),
        "mse": Term("per pixel", "squared error of the decoder mean at the codes"),
        "prior_nll": Term(NATS, "-log p(c), the PixelCNN prior's negative log-likelihood of the image's codes"),
        "bits_per_code": Term("bits per code", "prior_nll / (ln 2 x codes per image)"),
        "elbo": Term(
            NATS,
            "log p(x | z_q) + log p(c): the ELBO with the one-hot posterior (KL = -log p(c)) and the "
            "PixelCNN prior, a lower bound on log p(x)",
        ),
    }

    def __init__(
        self,
        num_codes=64,
        code_dim=16,
        filters=(32, 64),
        residual_blocks=2,
        residual_hidden=32,
        beta=0.25,
        ema=False,
        decay=0.99,
        reinit_unused=False,
        prior_filters=64,
        prior_layers=8,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_codes = checked("num_codes", num_codes, lambda v: v >= 2, "an integer >= 2", kind=int)
        self.code_dim = checked("code_dim", code_dim, lambda v: v >= 1, "an integer >= 1", kind=int)
        self.filters = positive_ints("filters", filters)
        self.residual_blocks = checked(
            "residual_blocks", residual_blocks, lambda v: v >= 0, "an integer >= 0", kind=int
        )
        (self.residual_hidden, self.prior_filters, self.prior_layers) = positive_ints(
            "residual_hidden, prior_filters, prior_layers", [residual_hidden, prior_filters, prior_layers]
        )
        self.beta = checked("beta", beta, lambda v: v >= 0, ">= 0")
        self.decay = checked("decay", decay, lambda v: 0 < v < 1, "in (0, 1)")
        self.ema = ema
        self.reinit_unused = reinit_unused
        stride = 2 ** len(self.filters)
        if self.image_shape[0] % stride or self.image_shape[1] % stride:
            raise ConfigError(f"image sides {self.image_shape[:2]} must divide by {stride} (2 ** len(filters))")

    def get_config(self):
        return {
            **super().get_config(),
            "num_codes": self.num_codes,
            "code_dim": self.code_dim,
            "filters": plain(self.filters),
            "residual_blocks": self.residual_blocks,
            "residual_hidden": self.residual_hidden,
            "beta": self.beta,
            "ema": self.ema,
            "decay": self.decay,
            "reinit_unused": self.reinit_unused,
            "prior_filters": self.prior_filters,
            "prior_layers": self.prior_layers,
        }

    @property
    def grid_shape(self):
        stride = 2 ** len(self.filters)
        return (self.image_shape[0] // stride, self.image_shape[1] // stride)

    # -- networks -----------------------------------------------------------------------------
    def build_networks(self):
        images = keras.Input(self.image_shape, name="images")
        h = down(images, self.filters, "encoder")
        h = residual_stack(
            keras.layers.Conv2D(self.filters[-1], 3, padding="same")(h),
            self.residual_blocks,
            self.residual_hidden,
            "encoder",
        )
        self.encoder = keras.Model(images, keras.layers.Conv2D(self.code_dim, 1, name="z_e")(h), name="encoder")
        self.quantizer = VectorQuantizer(
            self.num_codes,
            self.code_dim,
            beta=self.beta,
            ema=self.ema,
            decay=self.decay,
            reinit_unused=self.reinit_unused,
            seed=self.seed,
            name="quantizer",
        )
        self.quantizer.build((None, *self.grid_shape, self.code_dim))
        z_q = keras.Input((*self.grid_shape, self.code_dim), name="z_q")
        h = keras.layers.Conv2D(self.filters[-1], 3, padding="same", name="decoder_in")(z_q)
        h = residual_stack(h, self.residual_blocks, self.residual_hidden, "decoder")
        self.decoder = keras.Model(z_q, up(h, self.filters[::-1], self.image_shape[-1], "decoder"), name="decoder")
        self.build_likelihood()

    def codes(self, images):
        """The encoder's codes of images.

        Args:
            images: [B, H, W, C] float32 in [0, 1].

        Returns:
            int32 [B, h, w] in [0, num_codes).
        """
        return self.quantizer(self.encoder(images))["codes"]

    def code_levels(self, images):
        """{level: (int32 codes [B, h, w], codebook size)} for each quantizer (the codebook-usage figure).

        Args:
            images: [B, H, W, C] float32 in [0, 1].
        """
        return {"codes": (self.codes(images), self.num_codes)}

    def code_grids(self):
        """[(key of the codes in evaluation_terms, suffix of their usage metrics, codebook size)]."""
        return [("codes", "", self.num_codes)]

    def decode_codes(self, codes):
        """The decoder mean at the code vectors of `codes`.

        Args:
            codes: int [B, h, w] in [0, num_codes).

        Returns:
            images [B, H, W, C] in [0, 1].
        """
        return self.mean(self.decoder(self.quantizer.lookup(codes)))

    def call(self, batch, training=False):
        images = batch["images"] if isinstance(batch, dict) else batch
        return self.mean(self.decoder(self.quantizer(self.encoder(images), training=training)["quantized"]))

    def reconstruct(self, batch):
        return self.call(batch)

    def loss_terms(self, batch, training=False):
        """Per-example terms of a batch.

        Args:
            batch: {"images": [B, H, W, C] float32 in [0, 1]}.
            training: whether the networks run in training mode (and the codebook updates).

        Returns:
            {"loss", "reconstruction" (nats), "codebook", "commitment" (squared distances),
            "perplexity" (the batch's, repeated): float32 [B]; "codes": int32 [B, h, w];
            "raw": the decoder's raw outputs and "target": the targets, [B, H, W, C]}.
        """
        target = self.targets(batch["images"], training)
        quantized = self.quantizer(self.encoder(target, training=training), training=training)
        raw = self.decoder(quantized["quantized"], training=training)
        recon = self.reconstruction_nll(target, raw)
        perplexity = code_statistics(quantized["codes"], self.num_codes)["perplexity"]
        return {
            "loss": recon + quantized["vq_loss"],
            "reconstruction": recon,
            "codebook": quantized["codebook"],
            "commitment": quantized["commitment"],
            "perplexity": tf.fill(tf.shape(recon), perplexity),
            "codes": quantized["codes"],
            "raw": raw,
            "target": target,
        }

    # -- the prior (stage two) ----------------------------------------------------------------
    def stage_model(self, name):
        return PixelCNN(
            grid_shape=self.grid_shape,
            num_codes=self.num_codes,
            filters=self.prior_filters,
            num_layers=self.prior_layers,
            seed=self.seed,
        )

    def stage_batch(self, name, batch):
        return {"codes": self.codes(self.targets(batch["images"], training=False))}

    def sample(self, n, seed=None, **conditions):
        """n images [n, H, W, C] in [0, 1]: codes drawn from the PixelCNN prior (seeded: repeatable),
        decoded.

        Args:
            n: the number of images.
            seed: int for repeatable draws, or None.
            **conditions: none are taken.

        Raises:
            UserError: conditions given, or the prior not trained yet.
        """
        if conditions:
            raise UserError(f"{type(self).__name__} is unconditional: it cannot be given {', '.join(conditions)}")
        return self.decode_codes(self.attached("prior").sample(n, seed=seed))

    prior_description = "codes drawn from the PixelCNN prior, decoded"

    # -- evaluation ---------------------------------------------------------------------------
    @property
    def evaluated_names(self):
        return ("loss", "reconstruction", "codebook", "commitment")

    def evaluation_terms(self, batch, terms):
        out = {**self.reconstruction_errors(terms["target"], terms["raw"]), "codes": terms["codes"]}
        prior = self.attached("prior", required=False)
        if prior is not None:
            nll = prior.loss_terms({"codes": terms["codes"]})["loss"]
            out.update(prior_bound(terms["reconstruction"], nll, math.prod(self.grid_shape)))
        return out

    def summarize(self, per_example):
        usage = {}
        for key, suffix, num_codes in self.code_grids():
            usage.update(code_usage(per_example.pop(key), num_codes, suffix))
        return {**super().summarize(per_example), **usage}

    def headline(self, metrics):
        """The bound with the learned prior once it is trained (metrics with an "elbo"), else the
        reconstruction errors."""
        return bound_headline(metrics) if "elbo" in metrics else super().headline(metrics)

    # -- export -------------------------------------------------------------------------------
    def export_parts(self):
        def decoder(codes):
            return {"images": self.decode_codes(codes)}

        metadata = {
            "image_shape": list(self.image_shape),
            "grid_shape": list(self.grid_shape),
            "num_codes": self.num_codes,
        }
        codes = TensorInput("codes", self.grid_shape, "int32", "index", self.num_codes)
        parts = [
            Part("decoder", decoder, (codes,), {"images": self.image_shape}, (self.quantizer, self.decoder), metadata)
        ]
        prior = self.attached("prior", required=False)
        return parts + (self.prior_parts(prior, "prior", generates="codes") if prior is not None else [])

    @staticmethod
    def prior_parts(prior, name, generates, condition_from=None):
        """A prior's exported part, named `name`, its metadata saying which decoder input its
        loop generates and which grid its condition is (for the ONNX consumer and the web page).

        Args:
            prior: a trained `PixelCNN`.
            name: the part's name ("prior", "top_prior", "bottom_prior").
            generates: the decoder input its sampling loop fills ("codes", "top_codes", ...).
            condition_from: the decoder input that is its condition, or None.

        Returns:
            list of one `Part`.
        """
        (part,) = prior.export_parts()
        extra = {"generates": generates, **({"condition_from": condition_from} if condition_from else {})}
        return [dataclasses.replace(part, name=name, metadata={**part.metadata, **extra})]
