"""`beta_tc_vae`: the VAE with its KL decomposed and the total correlation reweighted (Chen et al.
2018, "Isolating Sources of Disentanglement in Variational Autoencoders").

KL(q(z|x) || p(z)), averaged over the data, is index-code mutual information + total correlation
+ dimension-wise KL (their equation 2):

    mi     = E[log q(z|x) - log q(z)]
    tc     = E[log q(z) - sum_j log q(z_j)]
    dw_kl  = E[sum_j log q(z_j) - log p(z_j)]

q(z) the aggregate posterior over the N training examples, estimated on each minibatch by
minibatch-weighted sampling (`estimator="mws"`, their choice) or minibatch-stratified sampling
("mss"), `keras_vae.core.disentangling`. The objective is their equation 4 with alpha = gamma = 1:

    loss = reconstruction + kl + (beta - 1) * tc

kl in closed form, as disentanglement_lib writes it (methods/unsupervised/vae.py `BetaTCVAE`:
"ELBO + (1 - beta) * TC"); beta = 1 is the VAE. mi, tc and dw_kl are logged per example; they
sum to the one-sample KL estimate log q(z|x) - log p(z), not to the closed-form kl.
"""

import tensorflow as tf

from keras_vae.core import disentangling
from keras_vae.core.checks import checked
from keras_vae.core.contract import NATS, Term
from keras_vae.core.errors import ConfigError
from keras_vae.core.registration import register_model
from keras_vae.models.vae.vae import VAE

# The dSprites train split with the default validation fraction: 737,280 grid images, 10% held
# out as the test split (73,728), 10% of the rest as validation (66,355): 597,197.
DSPRITES_TRAIN_EXAMPLES = 597_197


@register_model
class BetaTCVAE(VAE):
    """beta-TC-VAE (Chen et al. 2018; the module docstring).

    Args:
        beta: the weight of the total correlation (>= 0; 1 is the VAE's objective).
        estimator: "mws" (minibatch-weighted sampling) or "mss" (minibatch-stratified sampling).
        dataset_size: N, the training examples the aggregate posterior averages over (an integer
            >= 2, at least the batch size); by default dSprites' train split, 597,197. Set it for
            other data (or a --limit run): the data does not fill it in.
        architecture: as for `Autoencoder`; "conv" by default.
        **kwargs: `VAE` (`Autoencoder`, `ImageModel`, `ZooModel`) arguments.

    Raises:
        ConfigError: a negative beta, an unknown estimator, or a dataset_size that is not an
            integer >= 2.
    """

    def __init__(self, beta=6.0, estimator="mws", dataset_size=DSPRITES_TRAIN_EXAMPLES, architecture="conv", **kwargs):
        super().__init__(architecture=architecture, **kwargs)
        self.beta = checked("beta", beta, lambda v: v >= 0, "a total-correlation weight >= 0")
        if estimator not in disentangling.ESTIMATORS:
            raise ConfigError(f"estimator must be one of {', '.join(disentangling.ESTIMATORS)}, got {estimator!r}")
        self.estimator = estimator
        self.dataset_size = checked(
            "dataset_size",
            dataset_size,
            lambda v: v >= 2,
            "the number of training examples (an integer >= 2)",
            kind=int,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "beta": self.beta,
            "estimator": self.estimator,
            "dataset_size": self.dataset_size,
        }

    loss_names = ("loss", "reconstruction", "kl", "mi", "tc", "dw_kl")

    @property
    def term_docs(self):
        how = {"mws": "minibatch-weighted sampling, biased high", "mss": "minibatch-stratified sampling"}[
            self.estimator
        ]
        return {
            **VAE.term_docs,
            "loss": Term(NATS, f"reconstruction + kl + (beta - 1) * tc, beta = {self.beta}"),
            "mi": Term(NATS, f"index-code mutual information log q(z|x) - log q(z), q(z) by {how}"),
            "tc": Term(NATS, f"total correlation log q(z) - sum_j log q(z_j), by {how} (Chen et al. 2018)"),
            "dw_kl": Term(NATS, f"dimension-wise KL sum_j log q(z_j) - log p(z_j), q(z_j) by {how}"),
        }

    def decomposition(self, terms):
        """{"mi", "tc", "dw_kl"} [B] of a batch from its posterior and sample (in `terms`).

        Args:
            terms: `VAE.loss_terms` of the batch ("z", "z_mean", "z_log_var").

        Returns:
            {name: float32 [B]}, nats.
        """
        z, mean, log_var = terms["z"], terms["z_mean"], terms["z_log_var"]
        log_qz, log_product = disentangling.aggregate_log_densities(z, mean, log_var, self.dataset_size, self.estimator)
        log_qz_x = disentangling.gaussian_log_density(z, mean, log_var)
        log_pz = disentangling.gaussian_log_density(z, 0.0, 0.0)
        return {
            "mi": tf.reduce_sum(log_qz_x, axis=-1) - log_qz,
            "tc": log_qz - log_product,
            "dw_kl": log_product - tf.reduce_sum(log_pz, axis=-1),
        }

    def loss_terms(self, batch, training=False, eps=None):
        terms = super().loss_terms(batch, training, eps)
        terms.update(self.decomposition(terms))
        terms["loss"] = terms["reconstruction"] + terms["kl"] + (self.beta - 1.0) * terms["tc"]
        return terms
