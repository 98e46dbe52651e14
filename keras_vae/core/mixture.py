"""An ex-post Gaussian mixture over a trained model's latent codes: a better sampler than N(0, I).

A VAE's aggregate posterior q(z) = E_x q(z|x) is not the N(0, I) it samples from, so many of its
prior samples fall where no training code lies. Fitting a Gaussian mixture to the codes of the
training split after training and sampling z from it instead (Ghosh et al. 2020, "From
Variational to Deterministic Autoencoders", section 4; pythae's GaussianMixtureSampler) gives
samples that look like the data. The fit is scikit-learn's `GaussianMixture` with full
covariances; the number of components K is chosen by the mean log-likelihood of held-out codes.
Densities are TensorFlow Probability's `MixtureSameFamily`. A draw is one deterministic function
of a uniform u and normal noise eps (`transform`: the component whose cumulative weight interval
holds u, then mu_k + L_k eps), so the exported sampler (`MixtureLayer`, noise in, z out), Python
and the web page give the same z for the same u and eps.
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

# The numbers of components tried, where the training codes can support them (`candidates`).
COMPONENTS = (1, 2, 4, 8, 16, 32, 64)
# scikit-learn's default regularization of each covariance's diagonal, stated because it is part
# of the fitted model (a code dimension the encoder collapsed has near-zero variance).
REG_COVAR = 1e-6
# Each component of a full-covariance mixture in d dimensions has d + d(d + 1)/2 + 1 free
# parameters; K is tried only while every component has this many training codes per dimension.
CODES_PER_COMPONENT_DIMENSION = 2


@dataclasses.dataclass(frozen=True)
class GaussianMixture:
    """A fitted mixture of K full-covariance Gaussians in d dimensions (float64 NumPy arrays).

    Attributes:
        weights: [K], the mixing proportions (sum 1).
        means: [K, d].
        covariances: [K, d, d], each symmetric positive definite.
        selection: {K: mean held-out log-likelihood, nats per code} of every K tried ({} if K
            was given).
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    selection: dict = dataclasses.field(default_factory=dict)

    @property
    def components(self):
        return len(self.weights)

    @property
    def dimensions(self):
        return self.means.shape[1]

    def distribution(self):
        """The mixture as a TFP distribution over float32 codes [..., d]."""
        from keras_vae.core.losses import tfd

        scale_tril = np.linalg.cholesky(self.covariances)
        return tfd.MixtureSameFamily(
            tfd.Categorical(logits=tf.constant(np.log(self.weights), tf.float32)),
            tfd.MultivariateNormalTriL(tf.constant(self.means, tf.float32), tf.constant(scale_tril, tf.float32)),
        )

    def arrays(self):
        """(cumulative weights [K], means [K, d], Cholesky factors [K, d, d]), float32: what
        `transform` and the exported layer take."""
        return (
            np.cumsum(self.weights).astype(np.float32),
            self.means.astype(np.float32),
            np.linalg.cholesky(self.covariances).astype(np.float32),
        )

    def sample(self, n, seed=None):
        """n codes [n, d] float32 drawn from the mixture; the same int seed gives the same codes
        (stateless draws: u from seed [seed, 1], eps from [seed, 0], the seed of N(0, I)'s eps),
        None fresh ones."""
        if seed is None:
            uniform, noise = tf.random.uniform((n, 1)), tf.random.normal((n, self.dimensions))
        else:
            uniform = tf.random.stateless_uniform((n, 1), seed=[seed, 1])
            noise = tf.random.stateless_normal((n, self.dimensions), seed=[seed, 0])
        return transform(*self.arrays(), uniform, noise)

    def log_prob(self, codes):
        """log p(z) in nats per code [N] (float32) of codes [N, d]."""
        return self.distribution().log_prob(np.asarray(codes, np.float32))


def transform(cumulative, means, scale_tril, uniform, noise):
    """z = mu_c + L_c eps for c the component whose interval [F_{c-1}, F_c) of the cumulative
    weights F holds u: a draw of the mixture from u ~ U[0, 1) and eps ~ N(0, I).

    Args:
        cumulative: float32 [K], the cumulative mixing weights (F_K = 1).
        means: float32 [K, d]; scale_tril: float32 [K, d, d], the covariances' Cholesky factors.
        uniform: float32 [B, 1] in [0, 1); noise: float32 [B, d].

    Returns:
        float32 [B, d].
    """
    # Only the K - 1 inner boundaries: a u at or above F_K's rounding still picks the last component.
    component = tf.reduce_sum(tf.cast(uniform >= cumulative[None, :-1], tf.int32), axis=1)
    scaled = tf.squeeze(tf.matmul(tf.gather(scale_tril, component), noise[:, :, None]), -1)
    return tf.gather(means, component) + scaled


@keras.saving.register_keras_serializable(package="keras_vae")
class MixtureLayer(keras.layers.Layer):
    """A fitted mixture's arrays as (non-trainable) weights, called on uniform [B, 1] and noise
    [B, d] -> z [B, d] (`transform`): the module of the exported sampler.

    Args:
        components: K; dimensions: d.
    """

    def __init__(self, components, dimensions, **kwargs):
        super().__init__(**kwargs)
        self.components, self.dimensions = components, dimensions
        self.cumulative = self.add_weight(shape=(components,), trainable=False, name="cumulative")
        self.means = self.add_weight(shape=(components, dimensions), trainable=False, name="means")
        self.scale_tril = self.add_weight(
            shape=(components, dimensions, dimensions), trainable=False, name="scale_tril"
        )
        self.built = True  # its weights are its whole state, whatever the input

    @classmethod
    def of(cls, fitted):
        """The layer of a fitted `GaussianMixture`."""
        layer = cls(fitted.components, fitted.dimensions, name="gaussian_mixture")
        layer.set_weights(list(fitted.arrays()))
        return layer

    def call(self, uniform, noise):
        return transform(self.cumulative, self.means, self.scale_tril, uniform, noise)

    def get_config(self):
        return {**super().get_config(), "components": self.components, "dimensions": self.dimensions}


def candidates(examples, dimensions, components=COMPONENTS):
    """The numbers of components that `examples` training codes in `dimensions` dimensions can
    fit: every K of `components` with at least CODES_PER_COMPONENT_DIMENSION codes per component
    and dimension (always K = 1)."""
    fits = [k for k in components if examples >= CODES_PER_COMPONENT_DIMENSION * k * dimensions]
    return tuple(fits) or (1,)


def fit(train, held_out, components=None, seed=0):
    """Fit a full-covariance Gaussian mixture to `train` codes, choosing K on `held_out` codes.

    Args:
        train: float array [N, d], the codes fitted (e.g. the encoder means of the training split).
        held_out: float array [M, d] that chooses K (the largest mean log-likelihood wins), or
            None: then K is the one of lowest BIC on `train` (Schwarz 1978), and `selection`
            holds -BIC / (2N) per K, which is in the same units.
        components: an int K to fit without choosing, or None to try `candidates`.
        seed: scikit-learn's random_state (the k-means initialization).

    Returns:
        GaussianMixture.

    Raises:
        ValueError: codes that are not finite, not 2-D, or of different dimensions; K < 1.
    """
    from sklearn.mixture import GaussianMixture as SklearnMixture

    train = np.asarray(train, np.float64)
    held_out = None if held_out is None else np.asarray(held_out, np.float64)
    for name, codes in (("training", train), ("held-out", held_out)):
        if codes is None:
            continue
        if codes.ndim != 2 or codes.shape[1] != train.shape[1] or not len(codes):
            raise ValueError(f"the {name} codes have shape {codes.shape}, not [N, {train.shape[-1]}]")
        if not np.isfinite(codes).all():
            raise ValueError(f"the {name} codes hold NaN or infinite values")
    if components is not None and components < 1:
        raise ValueError(f"a mixture needs at least 1 component, not {components}")
    tried = (components,) if components is not None else candidates(len(train), train.shape[1])

    def fitted(k):
        return SklearnMixture(k, covariance_type="full", reg_covar=REG_COVAR, random_state=seed).fit(train)

    def score(mixture):
        return mixture.score(held_out) if held_out is not None else -mixture.bic(train) / (2 * len(train))

    fits = {k: fitted(k) for k in tried}
    selection = {k: float(score(m)) for k, m in fits.items()} if components is None else {}
    best = fits[max(selection, key=selection.get)] if selection else fits[components]
    return GaussianMixture(best.weights_, best.means_, best.covariances_, selection)
