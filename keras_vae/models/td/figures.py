"""TD-VAE's figure: rollouts of test sequences beside their true frames (rollouts.png), and the
same as an animated GIF (rollouts.gif)."""

import numpy as np

from keras_vae.core.pictures import Animation, Grid, evenly_spaced

ROLLOUTS, OBSERVED_SHOWN, ANIMATED = 6, 3, 4  # sequences drawn, observed frames shown, sequences in the GIF


def rollouts(model, examples, seed, **_):
    """(Grid, Animation): pairs of rows, a test sequence's true frames, then the model's rollout
    (`sample` with the observed frames), the first columns the last observed frames; the GIF shows
    ANIMATED sequences, truth (top row) and rollout (bottom row) over time."""
    frames = examples["frames"]
    frames = frames[evenly_spaced(len(frames), ROLLOUTS)]
    k, steps = model.context, model.horizon
    predicted = model.sample(len(frames), seed=seed, frames=frames[:, :k]).numpy()
    shown_seen = min(OBSERVED_SHOWN, k)
    seen = frames[:, k - shown_seen : k]
    rows = np.stack([np.concatenate([seen, frames[:, k : k + steps]], 1), np.concatenate([seen, predicted], 1)], 1)
    title = (
        f"Rollouts after {k} observed frames: truth (top) and rollout (bottom) row pairs; "
        f"{shown_seen} observed columns, then 1..{steps} frames ahead"
    )
    grid = Grid(rows.reshape(-1, *frames.shape[2:]), title, columns=shown_seen + steps)
    shown = min(ANIMATED, len(frames))
    movie = [
        np.concatenate([frames[:shown, t], frames[:shown, t] if t < k else predicted[:shown, t - k]])
        for t in range(k + steps)
    ]
    captions = tuple(
        f"frame {t + 1} of {k + steps}: " + ("observed" if t < k else f"rollout, {t - k + 1} ahead")
        for t in range(k + steps)
    )
    title = f"{shown} test sequences: the true frames (top) and the model's rollout (bottom) after {k} observed frames"
    return grid, Animation(movie, columns=shown, title=title, row_labels=("truth", "rollout"), captions=captions)
