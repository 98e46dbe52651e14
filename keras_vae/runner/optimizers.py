"""Adam whose update is TensorFlow's fused `ResourceApplyAdam` kernel.

Keras 3's Adam updates each variable with about ten separate elementwise ops, each a pass over
memory; on a CPU that is a quarter of a `dense_vae` train step (measured: see the README's
"Speed and scale"). TensorFlow's kernel does the same update in one pass. The arithmetic is
Keras's, step for step: m, v, the bias-corrected rate and epsilon outside the square root.
"""

import keras
import tensorflow as tf

from keras_vae.core.keras_internals import adam_slots


@keras.saving.register_keras_serializable(package="keras_vae")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` with a fused update (AMSGrad keeps Keras's own).

    Adam: Kingma & Ba 2015 ("Adam: A Method for Stochastic Optimization"), algorithm 1 with the
    bias correction folded into the step size (their section 2, last paragraph), epsilon outside
    the square root, as Keras and `ResourceApplyAdam` compute it.

    Args:
        **kwargs: as `keras.optimizers.Adam` (learning_rate, beta_1, beta_2, epsilon, amsgrad, ...);
            registered as "keras_vae>FusedAdam", so saved models reload it.
    """

    def update_step(self, gradient, variable, learning_rate):
        """Update `variable` in place from `gradient`: one fused `ResourceApplyAdam` (AMSGrad: Keras's update).

        Args:
            gradient: the gradient of the loss, the shape of `variable` (cast to its dtype).
            variable: the tf.Variable (or one replica's copy) to update.
            learning_rate: the step's learning rate, a scalar.

        Returns:
            None: the variable and its slots m and v are updated in place.
        """
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        m, v = adam_slots(self, variable)
        # `variable` is the tf.Variable (or one replica's copy) that Keras's TF backend passes;
        # the slots are Keras variables whose handle resolves to the same replica.
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=m.handle,
            v=v.handle,
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
        )
