"""`contractive_ae`: loss = -log p(x | f(x)) + contractive_weight * ||J_f(x)||_F^2 (Rifai et al. 2011).

J_f(x) is the Jacobian of the code f(x) with respect to the input x (d pixels, m code units, batch B),
taken at the data point x. Three ways to compute its squared Frobenius norm (`jacobian=`):

- "closed_form": for f(x) = sigmoid(W x + b), J = diag(h (1 - h)) W^T, so
  ||J||_F^2 = sum_j (h_j (1 - h_j))^2 ||W_:j||^2. Cost: an O(B m) product on top of the forward
  pass plus the O(d m) column norms of W - essentially free. Only for a single dense sigmoid layer.
- "exact": `GradientTape.batch_jacobian` of any encoder: m backward passes (vectorized by pfor)
  and the whole B x m x d Jacobian in memory, e.g. 100 MB for B=128, m=256, d=784.
- "estimate": E_v ||J v||^2 = ||J||_F^2 for Rademacher v (E[v v^T] = I), each J v one forward-mode
  JVP (`tf.autodiff.ForwardAccumulator`, about 2-3 forward passes) with O(B m) memory. Unbiased
  for any number of `projections` P; its variance falls as 1/P.

"auto" takes the closed form when it applies, else "exact".
"""

import tensorflow as tf

from keras_vae.core.checks import checked
from keras_vae.core.contract import Term
from keras_vae.core.errors import ConfigError
from keras_vae.core.registration import register_model
from keras_vae.models.ae.plain import AE

JACOBIANS = ("auto", "closed_form", "exact", "estimate")


def _sum_per_example(t):
    return tf.reduce_sum(tf.square(tf.cast(t, tf.float32)), axis=tf.range(1, tf.rank(t)))


@register_model
class ContractiveAE(AE):
    """The contractive autoencoder of Rifai et al. (2011) (the module docstring).

    Args:
        contractive_weight: lambda, the weight of ||J_f(x)||_F^2 in the loss (>= 0).
        jacobian: how the penalty is computed: "auto", "closed_form", "exact" or "estimate".
        projections: the Rademacher projections P per example of "estimate" (>= 1).
        **kwargs: `AE` arguments (code_activation, latent_dim, ...).

    Raises:
        ConfigError: a negative weight, projections < 1, an unknown jacobian, or "closed_form"
            for an encoder that is not a single dense sigmoid layer (checked once built).
    """

    loss_names = ("loss", "reconstruction", "contractive")
    term_docs = {
        **AE.term_docs,
        "contractive": Term(
            "squared Frobenius norm per example", "||J_f(x)||_F^2, the Jacobian of the code with respect to the input"
        ),
    }

    def __init__(self, contractive_weight=1.0, jacobian="auto", projections=1, **kwargs):
        super().__init__(**kwargs)
        self.contractive_weight = checked("contractive_weight", contractive_weight, lambda v: v >= 0, ">= 0")
        self.projections = checked("projections", projections, lambda v: v >= 1, "an integer >= 1", kind=int)
        self.jacobian = jacobian

    def get_config(self):
        return {
            **super().get_config(),
            "contractive_weight": self.contractive_weight,
            "jacobian": self.jacobian,
            "projections": self.projections,
        }

    def build_networks(self):
        super().build_networks()
        self.jacobian_method(self.jacobian)  # the choice is checked against the encoder just built

    def has_closed_form(self):
        """Whether the encoder is h = sigmoid(W x + b): the code layer is its only weighted layer.

        Returns:
            bool.
        """
        weighted = [layer.name for layer in self.encoder.layers if layer.weights]
        return self.code_activation == "sigmoid" and weighted == ["code"]

    def jacobian_method(self, jacobian):
        """The computation `jacobian` names for this encoder ("auto" resolved).

        Args:
            jacobian: one of JACOBIANS.

        Returns:
            "closed_form", "exact" or "estimate".

        Raises:
            ConfigError: an unknown name, or "closed_form" without a single dense sigmoid layer.
        """
        if jacobian not in JACOBIANS:
            raise ConfigError(f"jacobian must be one of {JACOBIANS}, got {jacobian!r}")
        if jacobian == "auto":
            return "closed_form" if self.has_closed_form() else "exact"
        if jacobian == "closed_form" and not self.has_closed_form():
            raise ConfigError(
                "jacobian='closed_form' needs a single dense sigmoid encoder layer; use 'exact' or 'estimate'"
            )
        return jacobian

    def jacobian_norm(self, x, method=None, training=False):
        """||J_f(x)||_F^2 per example, by `method` (default: the model's own `jacobian`).

        Args:
            x: images [B, H, W, C] in [0, 1], the point the Jacobian is taken at.
            method: one of JACOBIANS, or None for the model's `jacobian`.
            training: whether the encoder runs in training mode.

        Returns:
            float32 [B]: the squared Frobenius norm (an unbiased estimate with "estimate").

        Raises:
            ConfigError: as `jacobian_method`.
        """
        method = self.jacobian_method(method or self.jacobian)
        x = tf.convert_to_tensor(x)
        if method == "closed_form":
            h = tf.cast(self.encode(x, training=training), tf.float32)
            column_norms = tf.reduce_sum(tf.square(tf.cast(self.encoder.get_layer("code").kernel, tf.float32)), axis=0)
            return tf.reduce_sum(tf.square(h * (1 - h)) * column_norms, axis=-1)
        if method == "exact":
            with tf.GradientTape() as tape:
                tape.watch(x)
                h = self.encode(x, training=training)
            return _sum_per_example(tape.batch_jacobian(h, x))
        total = 0.0
        for _ in range(self.projections):
            v = tf.where(self.noise.uniform(tf.shape(x), x.dtype) < 0.5, -1.0, 1.0)
            with tf.autodiff.ForwardAccumulator(primals=x, tangents=tf.cast(v, x.dtype)) as accumulator:
                h = self.encode(x, training=training)
            total += _sum_per_example(accumulator.jvp(h))
        return total / self.projections

    def loss_terms(self, batch, training=False):
        terms = super().loss_terms(batch, training)
        contractive = self.jacobian_norm(batch["images"], training=training)
        terms.update(loss=terms["loss"] + self.contractive_weight * contractive, contractive=contractive)
        return terms
