"""`dip_vae`: the VAE with a penalty on the covariance of the aggregate posterior (Kumar et al.
2018, "Variational Inference of Disentangled Latent Concepts from Unlabeled Observations").

    loss = reconstruction + kl + lambda_od * sum_{i != j} C_ij^2 + lambda_d * sum_i (C_ii - 1)^2

C the batch covariance of the posterior means, Cov_p(x)[mu(x)] (DIP-VAE-I, `dip_type="i"`,
their equation 6), or of z under q(z), E_p(x)[Sigma(x)] + Cov_p(x)[mu(x)] (DIP-VAE-II, "ii",
equation 7); as disentanglement_lib writes them (methods/unsupervised/vae.py `DIPVAE`,
`regularize_diag_off_diag_dip`). The penalty is one number per batch, added to every example's
loss (as BetaVAE's capacity gap is), and logged with its two sums unweighted.
"""

import tensorflow as tf

from keras_vae.core import disentangling
from keras_vae.core.checks import checked
from keras_vae.core.contract import NATS, Term
from keras_vae.core.errors import ConfigError
from keras_vae.core.registration import register_model
from keras_vae.models.vae.vae import VAE

DIP_TYPES = ("i", "ii")
# disentanglement_lib's lambda_d = lambda_d_factor * lambda_od, the factor fixed per type in the
# study of Locatello et al. 2019 (config/unsupervised_study_v1/sweep.py): 10 for i, 1 for ii.
LAMBDA_D_FACTOR = {"i": 10.0, "ii": 1.0}


@register_model
class DIPVAE(VAE):
    """DIP-VAE-I or -II (Kumar et al. 2018; the module docstring).

    Args:
        dip_type: "i" (the covariance of the posterior means) or "ii" (of z under q(z)).
        lambda_od: the weight of the off-diagonal entries (>= 0).
        lambda_d: the weight of the diagonal's distance from 1 (>= 0); None: LAMBDA_D_FACTOR
            [dip_type] * lambda_od, disentanglement_lib's rule.
        architecture: as for `Autoencoder`; "conv" by default.
        **kwargs: `VAE` (`Autoencoder`, `ImageModel`, `ZooModel`) arguments.

    Raises:
        ConfigError: an unknown dip_type, or a negative weight.
    """

    def __init__(self, dip_type="i", lambda_od=10.0, lambda_d=None, architecture="conv", **kwargs):
        super().__init__(architecture=architecture, **kwargs)
        if dip_type not in DIP_TYPES:
            raise ConfigError(f"dip_type must be one of {', '.join(DIP_TYPES)}, got {dip_type!r}")
        self.dip_type = dip_type
        self.lambda_od = checked("lambda_od", lambda_od, lambda v: v >= 0, "a penalty weight >= 0")
        if lambda_d is not None:
            checked("lambda_d", lambda_d, lambda v: v >= 0, "None or a penalty weight >= 0")
        self.lambda_d = lambda_d

    def get_config(self):
        return {
            **super().get_config(),
            "dip_type": self.dip_type,
            "lambda_od": self.lambda_od,
            "lambda_d": self.lambda_d,
        }

    @property
    def diagonal_weight(self):
        """lambda_d as used: the one given, or LAMBDA_D_FACTOR[dip_type] * lambda_od."""
        return self.lambda_d if self.lambda_d is not None else LAMBDA_D_FACTOR[self.dip_type] * self.lambda_od

    loss_names = ("loss", "reconstruction", "kl", "dip", "off_diagonal", "diagonal")

    @property
    def term_docs(self):
        which = "Cov[mu(x)]" if self.dip_type == "i" else "E[Sigma(x)] + Cov[mu(x)]"
        return {
            **VAE.term_docs,
            "loss": Term(NATS, "reconstruction + kl + dip"),
            "dip": Term(
                NATS,
                f"DIP-VAE-{self.dip_type.upper()} penalty lambda_od * off_diagonal + lambda_d * diagonal, "
                f"lambda_od = {self.lambda_od}, lambda_d = {self.diagonal_weight}, per batch",
            ),
            "off_diagonal": Term("per batch", f"sum of the squared off-diagonal entries of {which} over the batch"),
            "diagonal": Term("per batch", f"sum of the squared (diagonal - 1) of {which} over the batch"),
        }

    def loss_terms(self, batch, training=False, eps=None):
        terms = super().loss_terms(batch, training, eps)
        covariance = disentangling.dip_covariance(terms["z_mean"], terms["z_log_var"], self.dip_type)
        off_diagonal, diagonal = disentangling.covariance_penalty(covariance)
        per_example = tf.ones_like(terms["kl"])  # a batch's penalty, broadcast to its examples
        penalty = self.lambda_od * off_diagonal + self.diagonal_weight * diagonal
        terms.update(
            dip=penalty * per_example,
            off_diagonal=off_diagonal * per_example,
            diagonal=diagonal * per_example,
            loss=terms["reconstruction"] + terms["kl"] + penalty,
        )
        return terms
