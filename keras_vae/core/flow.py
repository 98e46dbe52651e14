"""A masked autoregressive flow over a trained model's latent codes: the second ex-post sampler.

Papamakarios, Pavlakou & Murray (2017), "Masked Autoregressive Flow for Density Estimation": z =
f(eps), eps ~ N(0, I), f a chain of MADE-conditioned affine autoregressive maps with the order of
the dimensions reversed between them. The bijectors are TensorFlow Probability's
(`tfb.MaskedAutoregressiveFlow`, `tfb.AutoregressiveNetwork`); fitting is maximum likelihood on the
codes with Adam, stopped early on held-out codes (the weights of the best held-out epoch are
kept). pythae offers the same sampler (`MAFSampler`) for its VAEs.
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from keras_vae.core.losses import tfd, tfp

tfb = tfp.bijectors

LAYERS = 4  # MADE blocks; pythae's MAFSampler default is 2, Papamakarios et al. use 5
HIDDEN_UNITS = (64, 64)


@dataclasses.dataclass(frozen=True)
class FlowSettings:
    """How a flow is built and fitted (stored beside its weights).

    Attributes:
        dimensions: d, the size of the codes.
        layers: MADE blocks; hidden_units: each MADE's hidden layer sizes.
        epochs: the most passes over the codes; patience: epochs without a better held-out
            log-likelihood before stopping.
        batch_size, learning_rate: Adam's.
    """

    dimensions: int
    layers: int = LAYERS
    hidden_units: tuple = HIDDEN_UNITS
    epochs: int = 200
    patience: int = 10
    batch_size: int = 256
    learning_rate: float = 1e-3


class MaskedAutoregressiveFlow(tf.Module):
    """p(z) of a MAF over codes [.., d] (the module docstring).

    Args:
        settings: FlowSettings.
    """

    def __init__(self, settings):
        super().__init__(name="masked_autoregressive_flow")
        self.settings = settings
        d = settings.dimensions
        self.made = [
            tfb.AutoregressiveNetwork(
                params=2, hidden_units=list(settings.hidden_units), event_shape=[d], activation="relu"
            )
            for _ in range(settings.layers)
        ]
        chain = []
        for i, made in enumerate(self.made):
            chain.append(tfb.MaskedAutoregressiveFlow(shift_and_log_scale_fn=made))
            if i < settings.layers - 1:  # each MADE conditions on the dimensions the last one did not
                chain.append(tfb.Permute(list(reversed(range(d)))))
        self.bijector = tfb.Chain(list(reversed(chain)))  # Chain applies its last bijector first
        self.distribution = tfd.TransformedDistribution(tfd.MultivariateNormalDiag(tf.zeros(d)), self.bijector)
        self.distribution.log_prob(tf.zeros((1, d)))  # creates the MADEs' weights

    @property
    def dimensions(self):
        return self.settings.dimensions

    def log_prob(self, codes):
        """log p(z) in nats per code [N] (float32) of codes [N, d]."""
        return self.distribution.log_prob(tf.convert_to_tensor(codes, tf.float32))

    def forward(self, noise):
        """z [B, d] = f(eps) of noise [B, d] ~ N(0, I): d sequential passes of each MADE."""
        return self.bijector.forward(noise)

    def sample(self, n, seed=None):
        """n codes [n, d] float32; the same int seed gives the same codes (eps from stateless
        seed [seed, 0], the seed of N(0, I)'s eps), None fresh ones."""
        shape = (n, self.settings.dimensions)
        noise = tf.random.normal(shape) if seed is None else tf.random.stateless_normal(shape, seed=[seed, 0])
        return self.forward(noise)

    def weights(self):
        return [v.numpy() for v in self.trainable_variables]

    def set_weights(self, values):
        for variable, value in zip(self.trainable_variables, values, strict=True):
            variable.assign(value)


def fit(train, held_out, settings=None, seed=0):
    """Fit a MAF to `train` codes by maximum likelihood, stopping on `held_out` codes.

    Args:
        train: float array [N, d]; held_out: float array [M, d], or None (then the training
            codes' mean log-likelihood decides when to stop).
        settings: FlowSettings (default: FlowSettings(d)).
        seed: seeds the initial weights and the shuffling.

    Returns:
        (MaskedAutoregressiveFlow with the best epoch's weights, history: one dict per epoch
        {"epoch", "train_log_likelihood", "held_out_log_likelihood"} in nats per code).

    Raises:
        ValueError: codes that are not finite or not [N, d].
    """
    train = np.asarray(train, np.float32)
    held_out = train if held_out is None else np.asarray(held_out, np.float32)
    for name, codes in (("training", train), ("held-out", held_out)):
        if codes.ndim != 2 or codes.shape[1] != train.shape[1] or not len(codes):
            raise ValueError(f"the {name} codes have shape {codes.shape}, not [N, {train.shape[-1]}]")
        if not np.isfinite(codes).all():
            raise ValueError(f"the {name} codes hold NaN or infinite values")
    settings = settings or FlowSettings(train.shape[1])
    keras.utils.set_random_seed(seed)
    flow = MaskedAutoregressiveFlow(settings)
    optimizer = keras.optimizers.Adam(settings.learning_rate)
    variables = flow.trainable_variables

    @tf.function(autograph=False)
    def step(batch):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(batch))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    def mean_log_likelihood(codes):
        return float(
            np.mean(np.concatenate([flow.log_prob(codes[i : i + 4096]).numpy() for i in range(0, len(codes), 4096)]))
        )

    rng = np.random.default_rng(seed)
    history, best, best_weights, waited = [], -np.inf, flow.weights(), 0
    for epoch in range(settings.epochs):
        order = rng.permutation(len(train))
        losses = [
            float(step(train[order[i : i + settings.batch_size]])) for i in range(0, len(train), settings.batch_size)
        ]
        score = mean_log_likelihood(held_out)
        history.append(
            {"epoch": epoch + 1, "train_log_likelihood": -float(np.mean(losses)), "held_out_log_likelihood": score}
        )
        if score > best:
            best, best_weights, waited = score, flow.weights(), 0
        elif not np.isfinite(score) or (waited := waited + 1) >= settings.patience:
            break
    flow.set_weights(best_weights)
    return flow, history
