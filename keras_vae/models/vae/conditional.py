"""`cvae`: the conditional VAE (Sohn, Lee & Yan 2015; the conditional generative model of
Kingma, Rezende, Mohamed & Welling 2014 with the label observed).

    q(z | x, y) = N(mean, diag(exp(log_var))),   p(x | z, y),   p(z) = N(0, I)
    loss = -ELBO(x | y) = E_q[-log p(x | z, y)] + KL(q(z | x, y) || p(z)), nats per example

The label y (int32 [B] in [0, num_classes)) enters both networks one-hot, beside the image
features and beside z. `sample(n, labels=3)` draws digits of class 3; `evaluate` reports the
conditional ELBO and the importance-weighted bound on log p(x | y).
"""

from keras_vae.core.checks import checked
from keras_vae.core.contract import NATS, Term
from keras_vae.core.registration import register_model
from keras_vae.models.vae.vae import VAE


@register_model
class CVAE(VAE):
    """The conditional VAE (the module docstring): batches {"images": [B, H, W, C] float32 in
    [0, 1], "labels": int32 [B] in [0, num_classes)}.

    Args:
        num_classes: the number of label classes (>= 2).
        **kwargs: `VAE` (`Autoencoder`, `ImageModel`, `ZooModel`) arguments.

    Raises:
        ConfigError: num_classes not an integer >= 2.
    """

    figures = ("reconstructions", "class_samples", "latent_space")
    card_figures = ("reconstructions", "class_samples")
    term_docs = {
        **VAE.term_docs,
        "reconstruction": Term(
            NATS, "-log p(x | z, y), the decoder's negative log-likelihood of the image given its label"
        ),
        "kl": Term(NATS, "KL(q(z | x, y) || p(z)), in closed form"),
        "elbo": Term(NATS, "-(reconstruction + kl): the conditional ELBO, a lower bound on log p(x | y)"),
        "iwae": Term(NATS, "log p(x | y) estimated by importance weighting with k samples (Burda et al. 2016)"),
    }

    def __init__(self, num_classes=10, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = checked("num_classes", num_classes, lambda v: v >= 2, "an integer >= 2", kind=int)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}

    @property
    def condition_classes(self):
        return {"labels": self.num_classes}
