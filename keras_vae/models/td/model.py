"""`td_vae`: Temporal Difference VAE (Gregor, Papamakarios, Besse, Buesing & Weber, ICLR 2019).

Shapes: frames [B, T, H, W, C] float32 in [0, 1]; beliefs [B, T, belief_dim]; a state z is two
stochastic layers, z = [z2, z1] float32 [B, 2 * state_dim] (z2 on top, z1 conditioned on it).

    belief      b_t = LSTM(b_{t-1}, x_t) over encoded frames
    p_B(z|b)    p(z2 | b) p(z1 | b, z2)                              the belief's state
    q_S         q(z2_t1 | b_t1, b_t2, z_t2) q(z1_t1 | b_t1, b_t2, z_t2, z2_t1)   smoothing
    p_T(z'|z)   p(z2' | z, k) p(z1' | z, z2', k)                     the jumpy transition
    p_D(x|z)    Bernoulli(logits = decoder(z))

For a pair t1 < t2 = t1 + k, k in 1..max_jump (both drawn per example), with z_t2 ~ p_B(.|b_t2)
and z_t1 ~ q_S, the loss is the negative of the paper's equation (section 3, eq. 8):

    loss = reconstruction + smoothing_kl + transition + belief          (nats per example)
    reconstruction = -log p_D(x_t2 | z_t2)
    smoothing_kl   = KL(q_S(z_t1) || p_B(z_t1 | b_t1)), in closed form per layer given z2_t1
    transition     = -log p_T(z_t2 | z_t1)
    belief         = log p_B(z_t2 | b_t2)   (transition + belief estimates KL(p_B(z_t2) || p_T))

With `jump_input` (the default) the transition also takes the jump k one-hot, so a rollout can
step one frame at a time; without it, it is the paper's unconditioned jumpy transition.
"""

import keras
import tensorflow as tf

from keras_vae.core import losses
from keras_vae.core.checks import checked, positive_ints
from keras_vae.core.contract import NATS, Part, TensorInput, Term
from keras_vae.core.errors import ConfigError, UserError
from keras_vae.core.registration import plain, register_model
from keras_vae.models.base import ZooModel
from keras_vae.models.td import figures as td_figures
from keras_vae.models.td import layers, rollouts

# Static Python (loops over a known number of frames): autograph would only slow the tracing.
plain_python = tf.autograph.experimental.do_not_convert
int_at_least = lambda name, value, low: checked(name, value, lambda v: v >= low, f"an integer >= {low}", kind=int)  # noqa: E731


@register_model
class TDVAE(ZooModel):
    """TD-VAE (Gregor et al. 2019; the module docstring): batches {"frames": float32 [B, T, H, W, C]
    in [0, 1]}, T >= `frames_needed`.

    Args:
        image_shape: (H, W, C) of a frame; the entry fills it in from the data.
        belief_dim: the LSTM's belief size.
        state_dim: the size of each of the two stochastic layers z2, z1 (a state is 2 * state_dim).
        hidden_dim: the units of the gated hidden layer of every D block.
        hidden_sizes: the frame encoder's Dense layers (the decoder mirrors them); non-empty.
        max_jump: the largest jump t2 - t1 drawn in training (>= 1).
        jump_input: whether the transition takes the jump one-hot (True: rollouts step one frame).
        context: the frames observed before a rollout.
        horizon: the frames a rollout predicts, in [1, rollouts.HORIZONS].
        pairs: the (t1, t2) pairs drawn per sequence and step, averaged (1: the paper's one pair).
        **kwargs: `ZooModel` arguments (seed) and `keras.Model` arguments.

    Raises:
        ConfigError: an image_shape that is not three sides >= 1, a size or count out of range,
            or a jump_input that is not a bool.
    """

    batch_keys = ("frames",)
    loss_names = ("loss", "reconstruction", "smoothing_kl", "transition", "belief")
    figures = ("rollouts",)
    drawers = {"rollouts": td_figures.rollouts}
    card_figures = figures
    sample_figure = "rollouts"  # `sample` draws rollouts of test sequences, not prior samples
    # A deployment rolls out from observed frames: the belief turns them into a state, which
    # only rollout_step moves forward (export/onnx/rollout.py takes both), so export both.
    export_default = "all"
    term_docs = {
        "loss": Term(
            NATS, "negative TD-VAE bound of a pair (t1, t2), t2 - t1 in 1..max_jump: the sum of the next four"
        ),
        "reconstruction": Term(
            NATS, "-log p_D(x_t2 | z_t2), z_t2 ~ p_B(z | b_t2): Bernoulli cross-entropy of frame t2"
        ),
        "smoothing_kl": Term(NATS, "KL(q_S(z_t1 | z_t2, b_t1, b_t2) || p_B(z_t1 | b_t1)), closed form per layer"),
        "transition": Term(NATS, "-log p_T(z_t2 | z_t1): the jumpy transition's negative log-density"),
        "belief": Term(
            NATS, "log p_B(z_t2 | b_t2); with transition, a one-sample KL(p_B(z_t2 | b_t2) || p_T(z_t2 | z_t1))"
        ),
        **rollouts.TERM_DOCS,
    }

    def __init__(
        self,
        image_shape=(28, 28, 1),
        belief_dim=64,
        state_dim=8,
        hidden_dim=64,
        hidden_sizes=(256,),
        max_jump=4,
        jump_input=True,
        context=10,
        horizon=8,
        pairs=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise ConfigError(f"image_shape must be [height, width, channels], got {image_shape!r}")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.belief_dim = int_at_least("belief_dim", belief_dim, 1)
        self.state_dim = int_at_least("state_dim", state_dim, 1)
        self.hidden_dim = int_at_least("hidden_dim", hidden_dim, 1)
        self.hidden_sizes = positive_ints("hidden_sizes", hidden_sizes)
        self.max_jump = int_at_least("max_jump", max_jump, 1)
        if not isinstance(jump_input, bool):
            raise ConfigError(f"jump_input must be true or false, got {jump_input!r}")
        self.jump_input = jump_input
        self.context = int_at_least("context", context, 1)
        self.pairs = int_at_least("pairs", pairs, 1)
        self.horizon = checked(
            "horizon",
            horizon,
            lambda v: 1 <= v <= rollouts.HORIZONS,
            f"an integer in [1, {rollouts.HORIZONS}]",
            kind=int,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": plain(self.image_shape),
            "belief_dim": self.belief_dim,
            "state_dim": self.state_dim,
            "hidden_dim": self.hidden_dim,
            "hidden_sizes": plain(self.hidden_sizes),
            "max_jump": self.max_jump,
            "jump_input": self.jump_input,
            "context": self.context,
            "horizon": self.horizon,
            "pairs": self.pairs,
        }

    def figure_files(self, name):
        """rollouts.png and its animation, rollouts.gif."""
        files = super().figure_files(name)
        return (*files, files[0][: -len(".png")] + ".gif") if name == "rollouts" else files

    @property
    def frames_needed(self):
        """Frames a sequence needs: a pair max_jump apart, and context + horizon for rollouts."""
        return max(self.max_jump + 1, self.context + self.horizon)

    @property
    def latent_dim(self):
        return 2 * self.state_dim

    def build_networks(self):
        s, b, h, jump = self.state_dim, self.belief_dim, self.hidden_dim, self.max_jump if self.jump_input else 0
        self.frame_encoder = layers.frame_encoder(self.image_shape, self.hidden_sizes)
        self.belief_cell = keras.layers.LSTMCell(b, name="belief_cell")
        self.belief_cell.build((None, self.hidden_sizes[-1]))
        self.belief_top, self.belief_bottom = (
            layers.d_block("belief_z2", [b], h, s),
            layers.d_block("belief_z1", [b, s], h, s),
        )
        self.smooth_top = layers.d_block("smoothing_z2", [b, b, 2 * s], h, s)
        self.smooth_bottom = layers.d_block("smoothing_z1", [b, b, 2 * s, s], h, s)
        self.transition_top = layers.d_block("transition_z2", [2 * s, *([jump] if jump else [])], h, s)
        self.transition_bottom = layers.d_block("transition_z1", [2 * s, s, *([jump] if jump else [])], h, s)
        self.decoder = layers.frame_decoder(2 * s, self.hidden_sizes, self.image_shape)

    # -- the networks as distributions -------------------------------------------------------
    @plain_python
    def beliefs(self, frames, training=False):
        """b_1..b_T: the LSTM over the encoded frames.

        Args:
            frames: float32 [B, T, H, W, C] in [0, 1], T static.
            training: whether the networks run in training mode.

        Returns:
            float32 [B, T, belief_dim].
        """
        frames = tf.convert_to_tensor(frames)
        steps = frames.shape[1]
        features = self.frame_encoder(tf.reshape(frames, [-1, *self.image_shape]), training=training)
        features = tf.reshape(features, [tf.shape(frames)[0], steps, features.shape[-1]])
        state = [tf.zeros([tf.shape(frames)[0], self.belief_dim], features.dtype)] * 2
        out = []
        for t in range(steps):
            b, state = self.belief_cell(features[:, t], state, training=training)
            out.append(b)
        return tf.stack(out, axis=1)

    def _jump(self, jump, z):
        """The transition's extra input: the one-hot jump k ([B] or one for all), or nothing."""
        if not self.jump_input:
            return []
        jump = tf.broadcast_to(tf.cast(jump, tf.int32), tf.shape(z)[:1])
        return [tf.one_hot(jump - 1, self.max_jump)]

    def belief_layers(self, b, z2):
        return layers.Gaussian(*self.belief_top(b)), layers.Gaussian(*self.belief_bottom([b, z2]))

    def sample_belief(self, b, eps):
        """z ~ p_B(z | b), reparameterized.

        Args:
            b: beliefs [B, belief_dim].
            eps: N(0, 1) noise [B, 2 * state_dim] (z2's, then z1's).

        Returns:
            (z float32 [B, 2 * state_dim], top p(z2 | b), bottom p(z1 | b, z2)); both `Gaussian`.
        """
        top = layers.Gaussian(*self.belief_top(b))
        z2 = top.sample(eps[:, : self.state_dim])
        bottom = layers.Gaussian(*self.belief_bottom([b, z2]))
        return tf.concat([z2, bottom.sample(eps[:, self.state_dim :])], -1), top, bottom

    def transition_layers(self, z, z2_next, jump):
        return (
            layers.Gaussian(*self.transition_top([z, *self._jump(jump, z)])),
            layers.Gaussian(*self.transition_bottom([z, z2_next, *self._jump(jump, z)])),
        )

    def step(self, z, eps, jump=1):
        """z' ~ p_T(z' | z, jump), reparameterized.

        Args:
            z: states [B, 2 * state_dim].
            eps: N(0, 1) noise [B, 2 * state_dim].
            jump: the jump k in 1..max_jump, an int or int [B] (ignored without jump_input).

        Returns:
            float32 [B, 2 * state_dim].
        """
        top = layers.Gaussian(*self.transition_top([z, *self._jump(jump, z)]))
        z2 = top.sample(eps[:, : self.state_dim])
        bottom = layers.Gaussian(*self.transition_bottom([z, z2, *self._jump(jump, z)]))
        return tf.concat([z2, bottom.sample(eps[:, self.state_dim :])], -1)

    def decode(self, z):
        """The decoder mean of p_D(x | z).

        Args:
            z: states [B, 2 * state_dim].

        Returns:
            frames [B, H, W, C] in [0, 1].
        """
        return tf.sigmoid(self.decoder(z))

    # -- the objective -----------------------------------------------------------------------
    def draw_pairs(self, size, steps):
        """Per example: jump k ~ U{1..min(max_jump, T - 1)}, t1 ~ U{0..T-1-k}.

        Args:
            size: the number of pairs to draw.
            steps: T, the frames per sequence.

        Returns:
            (t1, jump), int32 [size] each.
        """
        u = self.noise.uniform([2, size])
        jump = 1 + tf.cast(tf.floor(u[0] * min(self.max_jump, steps - 1)), tf.int32)
        t1 = tf.cast(tf.floor(u[1] * tf.cast(steps - jump, tf.float32)), tf.int32)
        return t1, jump

    @plain_python
    def loss_terms(self, batch, training=False, t1=None, jump=None, eps=None):
        """Per-example terms of a pair (t1, t1 + jump), averaged over `pairs` pairs drawn per
        sequence (one LSTM pass serves them all; pairs=1 is the paper's single pair). t1, jump
        (int32 [B]) and eps (float32 [2, B, 2 * state_dim]: the noise of z_t2, then of z_t1)
        are drawn unless given (tests; then pairs is 1).

        Args:
            batch: {"frames": float32 [B, T, H, W, C] in [0, 1]}.
            training: whether the networks run in training mode.
            t1: int32 [B] first frames, or None.
            jump: int32 [B] jumps, given with t1.
            eps: float32 [2, B, 2 * state_dim] noise, or None.

        Returns:
            {"loss", "reconstruction", "smoothing_kl", "transition", "belief"}: float32 [B], nats.
        """
        frames = tf.convert_to_tensor(batch["frames"])
        size, steps, s = tf.shape(frames)[0], frames.shape[1], self.state_dim
        pairs = 1 if t1 is not None else self.pairs
        if t1 is None:
            t1, jump = self.draw_pairs(size * pairs, steps)
        if eps is None:
            eps = self.noise.normal([2, size * pairs, 2 * s])
        b = self.beliefs(frames, training=training)
        if pairs > 1:  # pair p of sequence i is row p * B + i
            b, frames = tf.tile(b, [pairs, 1, 1]), tf.tile(frames, [pairs, 1, 1, 1, 1])
        b1, b2 = tf.gather(b, t1, batch_dims=1), tf.gather(b, t1 + jump, batch_dims=1)
        z_t2, p_top, p_bottom = self.sample_belief(b2, eps[0])
        q_top = layers.Gaussian(*self.smooth_top([b1, b2, z_t2]))
        z2_t1 = q_top.sample(eps[1][:, :s])
        q_bottom = layers.Gaussian(*self.smooth_bottom([b1, b2, z_t2, z2_t1]))
        z_t1 = tf.concat([z2_t1, q_bottom.sample(eps[1][:, s:])], -1)
        prior_top, prior_bottom = self.belief_layers(b1, z2_t1)
        t_top, t_bottom = self.transition_layers(z_t1, z_t2[:, :s], jump)
        x_t2 = tf.gather(frames, t1 + jump, batch_dims=1)
        terms = {
            "reconstruction": -losses.bernoulli_log_prob(x_t2, self.decoder(z_t2, training=training)),
            "smoothing_kl": q_top.kl(prior_top) + q_bottom.kl(prior_bottom),
            "transition": -(t_top.log_prob(z_t2[:, :s]) + t_bottom.log_prob(z_t2[:, s:])),
            "belief": p_top.log_prob(z_t2[:, :s]) + p_bottom.log_prob(z_t2[:, s:]),
        }
        terms = {"loss": tf.add_n(list(terms.values())), **terms}
        return {name: tf.reduce_mean(tf.reshape(value, [pairs, size]), 0) for name, value in terms.items()}

    # -- rollouts, evaluation, export --------------------------------------------------------
    @plain_python
    def rollout(self, observed, steps, eps=None):
        """Frames [B, steps, H, W, C] (decoder means) after observing `observed` [B, k, H, W, C]:
        z ~ p_B(z | b_k), then `steps` one-frame jumps of p_T.

        Args:
            observed: float32 [B, k, H, W, C] in [0, 1].
            steps: the number of frames to predict.
            eps: N(0, 1) noise [steps + 1, B, 2 * state_dim], or None to draw it from the model's noise.

        Returns:
            float32 [B, steps, H, W, C] in [0, 1].
        """
        if eps is None:
            eps = self.noise.normal([steps + 1, tf.shape(observed)[0], 2 * self.state_dim])
        z, _, _ = self.sample_belief(self.beliefs(observed)[:, -1], eps[0])
        frames = []
        for i in range(steps):
            z = self.step(z, eps[i + 1])
            frames.append(self.decode(z))
        return tf.stack(frames, axis=1)

    def sample(self, n, seed=None, frames=None, **conditions):
        """Rollouts [n, horizon, H, W, C] in [0, 1] from observed `frames` [n, k, H, W, C]; the
        same seed gives the same rollouts. TD-VAE predicts from what it saw: no frames, no sample.

        Args:
            n: the number of rollouts (the first n sequences of frames).
            seed: int for repeatable draws (stateless normal), or None.
            frames: float [n, k, H, W, C] in [0, 1], the observed frames.
            **conditions: none are taken.

        Returns:
            float32 [n, horizon, H, W, C] in [0, 1].

        Raises:
            UserError: conditions given, or no frames.
        """
        if conditions:
            raise UserError(f"TDVAE is unconditional: it cannot be given {', '.join(sorted(conditions))}")
        if frames is None:
            raise UserError(
                "TDVAE rolls out from observed frames: sample(n, frames=[n, k, H, W, C]); "
                "`sample td_vae` observes test sequences"
            )
        frames = tf.convert_to_tensor(frames, tf.float32)[:n]
        shape = [self.horizon + 1, tf.shape(frames)[0], 2 * self.state_dim]
        eps = tf.random.normal(shape) if seed is None else tf.random.stateless_normal(shape, seed=[seed, 0])
        return self.rollout(frames, self.horizon, eps)

    def evaluation_terms(self, batch, terms):
        frames = tf.convert_to_tensor(batch["frames"])
        observed = frames[:, : self.context]
        truth = frames[:, self.context : self.context + self.horizon]
        return rollouts.errors(truth, observed, self.graph_rollout(observed))

    @property
    def graph_rollout(self):
        """`rollout(observed, horizon)` as a tf.function (traced once; eager runs its many small
        ops one by one), drawing from the model's noise stream like the eager one."""
        if getattr(self, "_graph_rollout", None) is None:
            self._graph_rollout = tf.function(
                lambda observed: self.rollout(observed, self.horizon), reduce_retracing=True
            )
        return self._graph_rollout

    def evaluation_header(self):
        return {
            "likelihood": "bernoulli",
            "binarization": "none: Bernoulli cross-entropy of grey levels in [0, 1], not a normalized density",
            "units": f"{NATS} (a pair of frames); mse, bce: per pixel of the predicted frames",
            "rollouts": f"from the belief after the first {self.context} frames of each test sequence, "
            f"{self.horizon} one-frame jumps, one sampled path per sequence",
        }

    def card_table(self, metrics):
        return rollouts.table(metrics, self.horizon)

    def headline(self, metrics):
        """The pair loss and the rollouts beside repeating the last frame (`rollouts.headline`)."""
        return rollouts.headline(metrics)

    def export_parts(self):
        s = 2 * self.state_dim
        jump = (TensorInput("skip", (), "int32", "index", self.max_jump),) if self.jump_input else ()
        metadata = {
            "state_size": s,
            "belief_dim": self.belief_dim,
            "image_shape": list(self.image_shape),
            "context": self.context,
            "max_jump": self.max_jump,
            "latent_dim": s,
        }

        def belief(frames, noise):
            b = self.beliefs(frames)[:, -1]
            return {"belief": b, "state": self.sample_belief(b, tf.convert_to_tensor(noise))[0]}

        def rollout_step(state, noise, skip=None):
            z = self.step(tf.convert_to_tensor(state), tf.convert_to_tensor(noise), 1 if skip is None else skip + 1)
            return {"next_state": z, "frame": self.decode(z)}

        return [
            Part(
                "belief",
                belief,
                (TensorInput("frames", (self.context, *self.image_shape), values="unit"), TensorInput("noise", (s,))),
                {"belief": (self.belief_dim,), "state": (s,)},
                self,
                metadata,
            ),
            Part(
                "rollout_step",
                rollout_step,
                (TensorInput("state", (s,)), TensorInput("noise", (s,)), *jump),
                {"next_state": (s,), "frame": self.image_shape},
                self,
                metadata,
            ),
        ]
