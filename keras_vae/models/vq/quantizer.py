"""The vector quantizer of VQ-VAE (van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete
Representation Learning", sections 3.1-3.2; the EMA codebook of appendix A.1).

Each encoder output vector z_e (the last axis, D values) is replaced by its nearest code e_k in a
codebook of K vectors (squared Euclidean distance). The decoder sees z_e + sg(e_k - z_e): the
value of e_k, the gradient of z_e (straight-through). The codebook learns from
||sg(z_e) - e||^2, or, with `ema`, by exponential moving averages of the vectors assigned to
each code; the encoder is held to its codes by beta * ||z_e - sg(e)||^2.
"""

import keras
import tensorflow as tf

from keras_vae.core.layers import Noise


def _sum_over_replicas(*tensors):
    """The tensors summed across tf.distribute replicas (unchanged on one device)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return tensors
    return context.all_reduce("sum", tensors)


def _per_example_sum(x):
    """[B, ...] -> [B]: the sum over every axis but the first."""
    return tf.reduce_sum(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


@keras.saving.register_keras_serializable(package="keras_vae")
class VectorQuantizer(keras.layers.Layer):
    """z_e [..., D] -> nearest codes and their vectors, with the VQ-VAE loss terms.

    Args:
        num_codes: K, the codebook size.
        code_dim: D, the last axis of z_e.
        beta: the commitment weight (the paper's 0.25).
        ema: learn the codebook by exponential moving averages (appendix A.1) instead of by gradient.
        decay: the moving averages' decay gamma, in (0, 1), for ema and for the usage of reinit_unused.
        epsilon: the Laplace smoothing of the ema cluster sizes.
        reinit_unused: restart dead codes, those whose moving-average usage (assignments per
            global batch) falls below reinit_threshold, at encoder outputs of the batch.
        reinit_threshold: the usage below which a code is dead.
        seed: int seed of the codebook's initializer and of the restarts' draws, or None.
        **kwargs: `keras.layers.Layer` arguments (name, dtype).

    Weights (float32 under any dtype policy; distances are computed in float32):
        codebook [K, D], trainable unless ema;
        cluster_size [K] and embed_sum [K, D] with ema: the moving averages of the number and
            the sum of the vectors assigned to each code; both start as one pseudo-assignment of
            each code to itself (1 and the initial codebook), so codebook = embed_sum /
            cluster_size from the start and a code no input picks drifts only slowly;
        usage [K] with reinit_unused: the moving average of assignments, starting at the
            threshold.

    Under a tf.distribute strategy the assignment statistics are summed across replicas before
    any update, and every replica writes the same values; a restart takes the first replica's
    draw (`only_first_replica` aggregation).
    """

    def __init__(
        self,
        num_codes=64,
        code_dim=16,
        beta=0.25,
        ema=False,
        decay=0.99,
        epsilon=1e-5,
        reinit_unused=False,
        reinit_threshold=1.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_codes = num_codes
        self.code_dim = code_dim
        self.beta = beta
        self.ema = ema
        self.decay = decay
        self.epsilon = epsilon
        self.reinit_unused = reinit_unused
        self.reinit_threshold = reinit_threshold
        self.seed = seed
        self.noise = Noise(seed=seed, name="noise")

    def build(self, input_shape=None):
        # The weights do not depend on the input: z_e [..., D] and codes [...] both build it.
        def state(name, shape, initializer, trainable=False):
            return self.add_weight(
                name=name,
                shape=shape,
                initializer=initializer,
                trainable=trainable,
                autocast=False,
                aggregation="only_first_replica",
            )

        # Uniform with variance 1/D per entry: each code has squared norm ~1 on average.
        initializer = keras.initializers.VarianceScaling(1.0, "fan_out", "uniform", seed=self.seed)
        self.codebook = state("codebook", (self.num_codes, self.code_dim), initializer, trainable=not self.ema)
        if self.ema:
            self.cluster_size = state("cluster_size", (self.num_codes,), "ones")
            initial = self.codebook
            self.embed_sum = state(
                "embed_sum", (self.num_codes, self.code_dim), lambda shape, dtype: tf.identity(initial)
            )
        if self.reinit_unused:
            self.usage = state("usage", (self.num_codes,), keras.initializers.Constant(self.reinit_threshold))

    def call(self, z_e, training=False, from_codes=False):
        """z_e [B, ..., D] (any float dtype) -> {
            "quantized": [B, ..., D] in z_e's dtype, z_e + sg(e - z_e),
            "codes": int32 [B, ...], the nearest code of each vector,
            "codebook": float32 [B], sum over positions and dims of ||sg(z_e) - e||^2,
            "commitment": float32 [B], sum of ||z_e - sg(e)||^2 (not times beta),
            "vq_loss": float32 [B], codebook + beta * commitment (beta * commitment with ema)}.
        training updates the EMA codebook and restarts dead codes. With from_codes, the input is
        int codes and the output their vectors (see `lookup`).

        Raises:
            ValueError: the last axis of z_e is not code_dim.
        """
        if from_codes:
            return tf.cast(tf.gather(self.codebook, tf.cast(z_e, "int32")), self.compute_dtype)
        if z_e.shape[-1] is not None and z_e.shape[-1] != self.code_dim:
            raise ValueError(f"VectorQuantizer expects a last axis of {self.code_dim}, got shape {z_e.shape}")
        z = tf.cast(z_e, "float32")
        flat = tf.reshape(z, [-1, self.code_dim])
        codebook = tf.convert_to_tensor(self.codebook)
        distances = (
            tf.reduce_sum(tf.square(flat), axis=1, keepdims=True)
            - 2.0 * tf.matmul(flat, codebook, transpose_b=True)
            + tf.reduce_sum(tf.square(codebook), axis=1)
        )
        flat_codes = tf.argmin(distances, axis=1, output_type=tf.int32)
        codes = tf.reshape(flat_codes, tf.shape(z)[:-1])
        e = tf.gather(codebook, codes)

        codebook_term = _per_example_sum(tf.square(tf.stop_gradient(z) - e))
        commitment = _per_example_sum(tf.square(z - tf.stop_gradient(e)))
        vq_loss = self.beta * commitment if self.ema else codebook_term + self.beta * commitment
        quantized = z_e + tf.stop_gradient(tf.cast(e, z_e.dtype) - z_e)

        if training and (self.ema or self.reinit_unused):
            self._update(tf.stop_gradient(flat), flat_codes)
        return {
            "quantized": quantized,
            "codes": codes,
            "codebook": codebook_term,
            "commitment": commitment,
            "vq_loss": vq_loss,
        }

    def _update(self, flat, flat_codes):
        """One training step's codebook updates from the batch's vectors [N, D] and codes [N]."""
        one_hot = tf.one_hot(flat_codes, self.num_codes, dtype="float32")
        counts, sums = _sum_over_replicas(tf.reduce_sum(one_hot, axis=0), tf.matmul(one_hot, flat, transpose_a=True))
        if self.ema:
            # Appendix A.1: N <- g N + (1-g) n, m <- g m + (1-g) sum z, e = m / N, with N
            # Laplace-smoothed (as Sonnet's VectorQuantizerEMA) so a rare code never divides by ~0.
            cluster_size = self.decay * self.cluster_size + (1.0 - self.decay) * counts
            embed_sum = self.decay * self.embed_sum + (1.0 - self.decay) * sums
            total = tf.reduce_sum(cluster_size)
            smoothed = (cluster_size + self.epsilon) / (total + self.num_codes * self.epsilon) * total
            self.cluster_size.assign(cluster_size)
            self.embed_sum.assign(embed_sum)
            self.codebook.assign(embed_sum / smoothed[:, None])
        if self.reinit_unused:
            usage = self.decay * self.usage + (1.0 - self.decay) * counts
            dead = usage < self.reinit_threshold
            # One random row of the batch per code; only the dead codes take theirs.
            rows = tf.shape(flat)[0]
            picks = tf.cast(self.noise.uniform([self.num_codes]) * tf.cast(rows, "float32"), "int32")
            fresh = tf.gather(flat, tf.minimum(picks, rows - 1))
            restart = dead[:, None]
            self.usage.assign(tf.where(dead, self.reinit_threshold, usage))
            self.codebook.assign(tf.where(restart, fresh, self.codebook))
            if self.ema:
                # The restarted code as one pseudo-assignment of itself, like at initialization.
                self.cluster_size.assign(tf.where(dead, 1.0, self.cluster_size))
                self.embed_sum.assign(tf.where(restart, fresh, self.embed_sum))

    def lookup(self, codes):
        """The code vectors of int codes [...] -> [..., D] in the compute dtype (a Gather in ONNX).
        Works on symbolic inputs too, so a decoder-from-codes can be a functional model.

        Args:
            codes: int [...] in [0, num_codes).

        Returns:
            [..., code_dim] in the compute dtype.
        """
        return self(codes, from_codes=True)

    def get_config(self):
        return {
            **super().get_config(),
            "num_codes": self.num_codes,
            "code_dim": self.code_dim,
            "beta": self.beta,
            "ema": self.ema,
            "decay": self.decay,
            "epsilon": self.epsilon,
            "reinit_unused": self.reinit_unused,
            "reinit_threshold": self.reinit_threshold,
            "seed": self.seed,
        }


def code_statistics(codes, num_codes):
    """How the batch uses the codebook, over all positions of int codes [...]:
    {"perplexity": float32, exp(entropy of the empirical code distribution), between 1 (one
    code) and num_codes (all equally often); "codes_used": int32, the number of distinct codes}.

    Args:
        codes: int [...] in [0, num_codes), any shape.
        num_codes: K, the codebook size.

    Returns:
        {"perplexity": float32 scalar tensor, "codes_used": int32 scalar tensor}.
    """
    flat = tf.reshape(tf.cast(codes, "int32"), [-1])
    counts = tf.math.unsorted_segment_sum(tf.ones_like(flat, dtype="float32"), flat, num_codes)
    p = counts / tf.reduce_sum(counts)
    entropy = -tf.reduce_sum(tf.math.xlogy(p, p))  # 0 log 0 = 0
    return {"perplexity": tf.exp(entropy), "codes_used": tf.math.count_nonzero(counts, dtype=tf.int32)}
