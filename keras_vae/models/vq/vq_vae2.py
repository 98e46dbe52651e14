"""`vq_vae2`: the two-level VQ-VAE-2 (Razavi, van den Oord & Vinyals 2019) with a PixelCNN prior per level.

    h_b  = encoder(x)                              [B, 2h, 2w, F]   (filters[:-1]: 14x14 for 28x28 digits)
    e_t  = quantize_top(top_encoder(h_b))          [B, h, w, D]     (one more stride 2: 7x7), codes c_t
    e_b  = quantize_bottom(conv1x1(concat(top_decoder(e_t), h_b)))  [B, 2h, 2w, D], codes c_b
    x'   = decoder(concat(upsample(e_t), e_b))
    loss = -log p(x | e_t, e_b) + both levels' codebook + beta * commitment terms   (nats per example)

The top codes hold the global shape, the bottom codes, given them, the local detail. Two codebooks
(`num_codes_top` and `num_codes` for the bottom). Stage two trains a PixelCNN over the top codes
(`top_prior`), stage three one over the bottom codes conditioned on the top codes (`bottom_prior`);
`sample` draws top codes, bottom codes given them, and decodes.

Evaluation: the posterior q(c_t, c_b | x) is one-hot, so KL(q || p) = -log p(c_t) - log p(c_b | c_t) and
log p(x | e_t, e_b) + log p(c_t) + log p(c_b | c_t) is the ELBO under the learned priors, a lower bound on
log p(x) in the units of the VAEs' ELBO (nats per image).
"""

import math

import keras
import numpy as np
import tensorflow as tf

from keras_vae.core.checks import checked
from keras_vae.core.contract import NATS, Part, TensorInput, Term
from keras_vae.core.errors import ConfigError, UserError
from keras_vae.core.registration import register_model
from keras_vae.models.vq.pixelcnn import PixelCNN
from keras_vae.models.vq.quantizer import VectorQuantizer, code_statistics
from keras_vae.models.vq.vq_vae import DISTANCE, VQVAE, down, prior_bound, residual_stack, up

LEVELS = ("top", "bottom")


def level_docs(level, grid):
    """The term docs of one level's quantizer and codes.

    Args:
        level: "top" or "bottom".
        grid: the level's grid as text, e.g. "7x7".

    Returns:
        {term name with the level's suffix: Term}.
    """
    return {
        f"codebook_{level}": Term(DISTANCE, f"||sg(z_e) - z_q||^2 summed over the {grid} {level} grid"),
        f"commitment_{level}": Term(
            DISTANCE,
            f"||z_e - sg(z_q)||^2 summed over the {grid} {level} grid "
            "(equal in value to the codebook term; the gradients differ)",
        ),
        f"perplexity_{level}": Term(
            "codes", f"exp(entropy of the {level} codes used), per batch in training, over the test split in evaluation"
        ),
        f"codes_used_{level}": Term("codes", f"distinct {level} codes the encoder assigns on the test split"),
        f"prior_nll_{level}": Term(
            NATS,
            "-log p(c_t), the top PixelCNN prior's negative log-likelihood of the top codes"
            if level == "top"
            else "-log p(c_b | c_t), the bottom PixelCNN prior's negative "
            "log-likelihood of the bottom codes given the top codes",
        ),
        f"bits_per_code_{level}": Term("bits per code", f"prior_nll_{level} / (ln 2 x {level} codes per image)"),
    }


@register_model
class VQVAE2(VQVAE):
    """The two-level VQ-VAE-2 of Razavi, van den Oord & Vinyals (2019) (the module docstring):
    top codes int32 [B, h, w] and bottom codes int32 [B, 2h, 2w], h = H / 2**len(filters).

    Args:
        num_codes: the bottom codebook's size (>= 2).
        num_codes_top: the top codebook's size (>= 2).
        **kwargs: `VQVAE` arguments; filters needs two or more entries (the bottom encoder's
            strides, then the top's last one).

    Raises:
        ConfigError: a value out of range, or fewer than two filters.
    """

    stages = ("top_prior", "bottom_prior")
    loss_names = (
        "loss",
        "reconstruction",
        "codebook_top",
        "commitment_top",
        "codebook_bottom",
        "commitment_bottom",
        "perplexity_top",
        "perplexity_bottom",
    )

    def __init__(self, num_codes=64, num_codes_top=64, **kwargs):
        super().__init__(num_codes=num_codes, **kwargs)
        self.num_codes_top = checked("num_codes_top", num_codes_top, lambda v: v >= 2, "an integer >= 2", kind=int)
        if len(self.filters) < 2:
            raise ConfigError(
                f"filters needs two or more entries (the bottom strides, then the top's), got {self.filters}"
            )

    def get_config(self):
        # num_codes (the bottom codebook) only changes VQVAE's default: its get_config has it.
        return {**super().get_config(), "num_codes_top": self.num_codes_top}

    @property
    def bottom_grid_shape(self):
        return (2 * self.grid_shape[0], 2 * self.grid_shape[1])

    @property
    def term_docs(self):
        docs = {
            k: v for k, v in VQVAE.term_docs.items() if k not in ("codebook", "commitment", "perplexity", "codes_used")
        }
        grids = {"top": "x".join(map(str, self.grid_shape)), "bottom": "x".join(map(str, self.bottom_grid_shape))}
        return {
            **docs,
            **{k: v for level in LEVELS for k, v in level_docs(level, grids[level]).items()},
            "loss": Term(
                "per example",
                "reconstruction (nats) + codebook + beta * commitment of both levels (squared "
                "distances; without codebook with ema)",
            ),
            "reconstruction": Term(NATS, "-log p(x | e_t, e_b), the decoder's negative log-likelihood of the image"),
            "prior_nll": Term(
                NATS, "-log p(c_t) - log p(c_b | c_t): both priors' negative log-likelihood of the codes"
            ),
            "bits_per_code": Term("bits per code", "prior_nll / (ln 2 x codes per image, both levels)"),
            "elbo": Term(
                NATS,
                "log p(x | e_t, e_b) + log p(c_t) + log p(c_b | c_t): the ELBO with the one-hot "
                "posterior (KL = -log p(c_t) - log p(c_b | c_t)) and the PixelCNN priors, a lower "
                "bound on log p(x)",
            ),
        }

    # -- networks -----------------------------------------------------------------------------
    def quantizer_for(self, level, num_codes, grid):
        """A built `VectorQuantizer` named quantizer_{level}, with the model's quantizer settings.

        Args:
            level: "top" or "bottom".
            num_codes: its codebook size.
            grid: (h, w) of the level's grid.

        Returns:
            VectorQuantizer.
        """
        quantizer = VectorQuantizer(
            num_codes,
            self.code_dim,
            beta=self.beta,
            ema=self.ema,
            decay=self.decay,
            reinit_unused=self.reinit_unused,
            seed=self.seed,
            name=f"quantizer_{level}",
        )
        quantizer.build((None, *grid, self.code_dim))
        return quantizer

    def build_networks(self):
        bottom_filters, top_filter = self.filters[:-1], self.filters[-1]
        hidden = (self.residual_blocks, self.residual_hidden)
        images = keras.Input(self.image_shape, name="images")
        h = keras.layers.Conv2D(bottom_filters[-1], 3, padding="same")(down(images, bottom_filters, "encoder"))
        self.encoder = keras.Model(images, residual_stack(h, *hidden, "encoder"), name="encoder")

        h_b = keras.Input((*self.bottom_grid_shape, bottom_filters[-1]), name="h_b")
        h = keras.layers.Conv2D(top_filter, 3, padding="same")(down(h_b, [top_filter], "top_encoder"))
        h = residual_stack(h, *hidden, "top_encoder")
        self.top_encoder = keras.Model(
            h_b, keras.layers.Conv2D(self.code_dim, 1, name="z_e_top")(h), name="top_encoder"
        )

        # The bottom encoder sees the quantized top through the top decoder, upsampled to its grid.
        e_t = keras.Input((*self.grid_shape, self.code_dim), name="e_t")
        h = residual_stack(keras.layers.Conv2D(top_filter, 3, padding="same")(e_t), *hidden, "top_decoder")
        h = keras.layers.Conv2DTranspose(
            bottom_filters[-1], 4, strides=2, padding="same", activation="relu", name="top_decoder_up"
        )(h)
        z_e = keras.layers.Conv2D(self.code_dim, 1, name="z_e_bottom")(keras.layers.Concatenate()([h, h_b]))
        self.bottom_encoder = keras.Model([h_b, e_t], z_e, name="bottom_encoder")

        self.quantizer_top = self.quantizer_for("top", self.num_codes_top, self.grid_shape)
        self.quantizer_bottom = self.quantizer_for("bottom", self.num_codes, self.bottom_grid_shape)

        e_t = keras.Input((*self.grid_shape, self.code_dim), name="e_t")
        e_b = keras.Input((*self.bottom_grid_shape, self.code_dim), name="e_b")
        upsampled = keras.layers.Conv2DTranspose(self.code_dim, 4, strides=2, padding="same", name="top_up")(e_t)
        h = keras.layers.Conv2D(bottom_filters[-1], 3, padding="same", name="decoder_in")(
            keras.layers.Concatenate()([upsampled, e_b])
        )
        h = residual_stack(h, *hidden, "decoder")
        self.decoder = keras.Model(
            [e_t, e_b], up(h, bottom_filters[::-1], self.image_shape[-1], "decoder"), name="decoder"
        )
        self.build_likelihood()

    def quantize_levels(self, target, training=False):
        """Both levels' quantizer outputs (`VectorQuantizer.call`).

        Args:
            target: images [B, H, W, C] float32 in [0, 1].
            training: whether the networks run in training mode (and the codebooks update).

        Returns:
            (top, bottom): the quantizer output dicts of the [B, h, w] and [B, 2h, 2w] grids.
        """
        h_b = self.encoder(target, training=training)
        top = self.quantizer_top(self.top_encoder(h_b, training=training), training=training)
        bottom = self.quantizer_bottom(
            self.bottom_encoder([h_b, top["quantized"]], training=training), training=training
        )
        return top, bottom

    def code_levels(self, images):
        top, bottom = self.quantize_levels(images)
        return {"top": (top["codes"], self.num_codes_top), "bottom": (bottom["codes"], self.num_codes)}

    def code_grids(self):
        return [("codes_top", "_top", self.num_codes_top), ("codes_bottom", "_bottom", self.num_codes)]

    def codes(self, images):
        """The codes of images.

        Args:
            images: [B, H, W, C] float32 in [0, 1].

        Returns:
            (top int32 [B, h, w], bottom int32 [B, 2h, 2w]).
        """
        top, bottom = self.quantize_levels(images)
        return top["codes"], bottom["codes"]

    def decode_codes(self, top_codes, bottom_codes):
        """The decoder mean at the code vectors of both grids.

        Args:
            top_codes: int [B, h, w] in [0, num_codes_top).
            bottom_codes: int [B, 2h, 2w] in [0, num_codes).

        Returns:
            images [B, H, W, C] in [0, 1].
        """
        return self.mean(
            self.decoder([self.quantizer_top.lookup(top_codes), self.quantizer_bottom.lookup(bottom_codes)])
        )

    def call(self, batch, training=False):
        images = batch["images"] if isinstance(batch, dict) else batch
        top, bottom = self.quantize_levels(images, training=training)
        return self.mean(self.decoder([top["quantized"], bottom["quantized"]], training=training))

    def loss_terms(self, batch, training=False):
        """Per-example terms of a batch.

        Args:
            batch: {"images": [B, H, W, C] float32 in [0, 1]}.
            training: whether the networks run in training mode (and the codebooks update).

        Returns:
            {"loss", "reconstruction" (nats) and per level "codebook_*", "commitment_*" (squared
            distances) and "perplexity_*": float32 [B]; "codes_top" int32 [B, h, w],
            "codes_bottom" int32 [B, 2h, 2w]; "raw" and "target" [B, H, W, C]}.
        """
        target = self.targets(batch["images"], training)
        levels = dict(zip(LEVELS, self.quantize_levels(target, training=training)))
        raw = self.decoder([levels["top"]["quantized"], levels["bottom"]["quantized"]], training=training)
        recon = self.reconstruction_nll(target, raw)
        terms = {
            "loss": recon + levels["top"]["vq_loss"] + levels["bottom"]["vq_loss"],
            "reconstruction": recon,
            "raw": raw,
            "target": target,
        }
        for (level, q), num_codes in zip(levels.items(), (self.num_codes_top, self.num_codes)):
            perplexity = code_statistics(q["codes"], num_codes)["perplexity"]
            terms.update(
                {
                    f"codebook_{level}": q["codebook"],
                    f"commitment_{level}": q["commitment"],
                    f"perplexity_{level}": tf.fill(tf.shape(recon), perplexity),
                    f"codes_{level}": q["codes"],
                }
            )
        return terms

    # -- the priors (stages two and three) ----------------------------------------------------
    def stage_model(self, name):
        if name == "top_prior":
            return PixelCNN(
                grid_shape=self.grid_shape,
                num_codes=self.num_codes_top,
                filters=self.prior_filters,
                num_layers=self.prior_layers,
                seed=self.seed,
            )
        if name == "bottom_prior":
            return PixelCNN(
                grid_shape=self.bottom_grid_shape,
                num_codes=self.num_codes,
                filters=self.prior_filters,
                num_layers=self.prior_layers,
                condition_shape=self.grid_shape,
                condition_codes=self.num_codes_top,
                seed=self.seed,
            )
        return super().stage_model(name)

    def stage_batch(self, name, batch):
        top, bottom = self.codes(self.targets(batch["images"], training=False))
        return {"codes": top} if name == "top_prior" else {"codes": bottom, "condition": top}

    def sample(self, n, seed=None, **conditions):
        """n images [n, H, W, C] in [0, 1]: top codes from the top prior, bottom codes from the bottom
        prior given them, decoded. One seed gives two (one per prior): repeatable.

        Args:
            n: the number of images.
            seed: int for repeatable draws, or None.
            **conditions: none are taken.

        Raises:
            UserError: conditions given, or a prior not trained yet.
        """
        if conditions:
            raise UserError(f"{type(self).__name__} is unconditional: it cannot be given {', '.join(conditions)}")
        seeds = [None, None] if seed is None else [int(s) for s in np.random.SeedSequence(seed).generate_state(2) >> 1]
        top = self.attached("top_prior").sample(n, seed=seeds[0])
        bottom = self.attached("bottom_prior").sample(n, seed=seeds[1], condition=top.numpy())
        return self.decode_codes(top, bottom)

    prior_description = "top codes from the top PixelCNN, bottom codes from the bottom one given them, decoded"

    # -- evaluation ---------------------------------------------------------------------------
    @property
    def evaluated_names(self):
        return self.loss_names[:6]

    def evaluation_terms(self, batch, terms):
        top, bottom = terms["codes_top"], terms["codes_bottom"]
        out = {**self.reconstruction_errors(terms["target"], terms["raw"]), "codes_top": top, "codes_bottom": bottom}
        priors = {
            "top": (self.attached("top_prior", required=False), {"codes": top}, self.grid_shape),
            "bottom": (
                self.attached("bottom_prior", required=False),
                {"codes": bottom, "condition": top},
                self.bottom_grid_shape,
            ),
        }
        nlls = {}
        for level, (prior, codes, grid) in priors.items():
            if prior is not None:
                nlls[level] = prior.loss_terms(codes)["loss"]
                out.update(
                    {
                        f"prior_nll_{level}": nlls[level],
                        f"bits_per_code_{level}": nlls[level] / (math.log(2) * math.prod(grid)),
                    }
                )
        if len(nlls) == 2:
            positions = math.prod(self.grid_shape) + math.prod(self.bottom_grid_shape)
            out.update(prior_bound(terms["reconstruction"], nlls["top"] + nlls["bottom"], positions))
        return out

    # -- export -------------------------------------------------------------------------------
    def export_parts(self):
        def decoder(top_codes, bottom_codes):
            return {"images": self.decode_codes(top_codes, bottom_codes)}

        metadata = {
            "image_shape": list(self.image_shape),
            "top_grid_shape": list(self.grid_shape),
            "bottom_grid_shape": list(self.bottom_grid_shape),
            "num_codes_top": self.num_codes_top,
            "num_codes_bottom": self.num_codes,
        }
        inputs = (
            TensorInput("top_codes", self.grid_shape, "int32", "index", self.num_codes_top),
            TensorInput("bottom_codes", self.bottom_grid_shape, "int32", "index", self.num_codes),
        )
        parts = [
            Part(
                "decoder",
                decoder,
                inputs,
                {"images": self.image_shape},
                (self.quantizer_top, self.quantizer_bottom, self.decoder),
                metadata,
            )
        ]
        # Each prior's loop draws one decoder input; the bottom one's condition is the top grid.
        loops = {"top_prior": ("top_codes", None), "bottom_prior": ("bottom_codes", "top_codes")}
        for stage, (generates, condition_from) in loops.items():
            prior = self.attached(stage, required=False)
            if prior is not None:
                parts += self.prior_parts(prior, stage, generates, condition_from)
        return parts
