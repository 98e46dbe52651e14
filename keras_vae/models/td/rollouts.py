"""Prediction errors of rollouts, beside two baselines computed on the same sequences.

For each horizon h = 1..H after the last observed frame x_k:
    rollout    the model's predicted frame (decoder mean)
    repeat     x_k itself (predicting no motion)
    velocity   x_k rolled by h * v, v the horizontal shift in -MAX_SHIFT..MAX_SHIFT that best maps
               x_{k-1} onto x_k (least squares): an oracle-ish reference that knows the data's
               motion model; on `moving:` data it is exact whenever v is identifiable
MSE is per pixel; BCE is the per-pixel Bernoulli cross-entropy of the true grey level under the
prediction, the prediction clipped to [CLIP, 1 - CLIP] so a baseline's certain wrong pixel costs
-log(CLIP) = 6.9 nats, not infinity. Means over the test split per horizon, and "mse" / "bce"
over all horizons of the rollouts.
"""

import tensorflow as tf

from keras_vae.core.contract import Term

MAX_SHIFT = 3
CLIP = 1e-3
HORIZONS = 8  # horizons documented in TERM_DOCS; a model's horizon may not exceed it
PER_PIXEL = "per pixel"
PREDICTORS = {
    "": "the model's rollout (decoder mean) after observing the context frames",
    "repeat_": "repeating the last observed frame",
    "velocity_": "the last observed frame shifted by the best constant horizontal velocity of the last two",
}

TERM_DOCS = {
    "mse": Term(PER_PIXEL, "squared error of the rollouts, mean over horizons 1..horizon"),
    "bce": Term(PER_PIXEL, "Bernoulli cross-entropy of the true frames under the rollouts, mean over horizons (nats)"),
    **{
        f"{prefix}{error}_h{h}": Term(
            PER_PIXEL, f"{'squared error' if error == 'mse' else 'cross-entropy (nats)'} {h} frame(s) ahead of {text}"
        )
        for h in range(1, HORIZONS + 1)
        for prefix, text in PREDICTORS.items()
        for error in ("mse", "bce")
    },
}


def per_pixel(truth, prediction):
    """Per-pixel errors of each predicted frame.

    Args:
        truth: float32 [B, H, h, w, c], the true frames in [0, 1] (H horizons).
        prediction: float32 of the same shape, in [0, 1] (clipped to [CLIP, 1 - CLIP] for bce).

    Returns:
        (mse, bce), each float32 [B, H]: means over the pixels of each frame (bce in nats).
    """
    axes = [2, 3, 4]
    p = tf.clip_by_value(prediction, CLIP, 1 - CLIP)
    bce = -(truth * tf.math.log(p) + (1 - truth) * tf.math.log(1 - p))
    return tf.reduce_mean(tf.square(truth - prediction), axes), tf.reduce_mean(bce, axes)


def velocity(observed, horizon):
    """The constant-velocity baseline: the last frame rolled by h * v, v fitted on the last two frames.

    Args:
        observed: float32 [B, k, H, W, C], k >= 2 observed frames.
        horizon: the number of frames to predict.

    Returns:
        float32 [B, horizon, H, W, C].
    """
    before, last = observed[:, -2], observed[:, -1]
    shifts = sorted(
        range(-MAX_SHIFT, MAX_SHIFT + 1), key=lambda v: (abs(v), -v)
    )  # 0, 1, -1, 2, ...: ties go to the slower
    fit = tf.stack([tf.reduce_mean(tf.square(tf.roll(before, v, axis=2) - last), [1, 2, 3]) for v in shifts], -1)
    v = tf.gather(tf.constant(shifts), tf.argmin(fit, axis=-1, output_type=tf.int32))
    width = last.shape[2]
    frames = []
    for h in range(1, horizon + 1):
        columns = (tf.range(width)[None, :] - (v[:, None] * h)) % width  # [B, W]
        frames.append(tf.gather(last, columns, axis=2, batch_dims=1))
    return tf.stack(frames, axis=1)


def errors(truth, observed, rollout):
    """{name: [B]} for every predictor and horizon, and the rollouts' means over horizons.

    Args:
        truth: float32 [B, H, h, w, c], the frames after the observed ones (H horizons).
        observed: float32 [B, k, h, w, c], the observed frames (k >= 2).
        rollout: the model's predictions, the shape of truth.

    Returns:
        {"mse", "bce", "{prefix}mse_h{h}", "{prefix}bce_h{h}": float32 [B]} per pixel (see TERM_DOCS).
    """
    horizon = truth.shape[1]
    repeat = tf.repeat(observed[:, -1:], horizon, axis=1)
    out = {}
    for prefix, prediction in (("", rollout), ("repeat_", repeat), ("velocity_", velocity(observed, horizon))):
        mse, bce = per_pixel(truth, tf.cast(prediction, tf.float32))
        if not prefix:
            out.update(mse=tf.reduce_mean(mse, -1), bce=tf.reduce_mean(bce, -1))
        for h in range(horizon):
            out[f"{prefix}mse_h{h + 1}"], out[f"{prefix}bce_h{h + 1}"] = mse[:, h], bce[:, h]
    return out


def table(metrics, horizon):
    """Markdown: per-pixel MSE (and BCE) per horizon of the rollouts and both baselines.

    Args:
        metrics: evaluated metrics with every "{prefix}{mse,bce}_h{h}" up to horizon.
        horizon: the number of rows.

    Returns:
        str, a Markdown table.
    """
    rows = [
        "| frames ahead | rollout MSE | repeat last frame MSE | constant velocity MSE "
        "| rollout BCE | repeat BCE | velocity BCE |",
        "|---|---|---|---|---|---|---|",
    ]
    for h in range(1, horizon + 1):
        values = [metrics[f"{p}{e}_h{h}"] for e in ("mse", "bce") for p in PREDICTORS]
        rows.append(f"| {h} | " + " | ".join(f"{v:.4f}" for v in values) + " |")
    return "\n".join(rows)


def headline(metrics):
    """["pair loss 60.1", "rollout MSE 1 / 8 ahead ... (repeating the last frame ...)"]: TD-VAE's
    headline (`ZooModel.headline`).

    Args:
        metrics: evaluated metrics with "loss" (nats per pair) and "mse_h<j>", "repeat_mse_h<j>"
            per horizon j (per pixel).

    Returns:
        A list of str.
    """
    last = max(int(name[len("mse_h") :]) for name in metrics if name.startswith("mse_h"))
    return [
        f"pair loss {metrics['loss']:.1f}",
        f"rollout MSE 1 / {last} ahead {metrics['mse_h1']:.4f} / {metrics[f'mse_h{last}']:.4f} (repeating "
        f"the last frame {metrics['repeat_mse_h1']:.4f} / {metrics[f'repeat_mse_h{last}']:.4f})",
    ]
