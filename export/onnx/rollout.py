#!/usr/bin/env python
"""Roll an exported keras_vae td_vae forward with ONNX Runtime and write the frames as a PNG.

Needs only numpy and onnxruntime (and decode.py beside it, for the PNG writer): no TensorFlow,
no keras_vae. The two parts of a td_vae export:

    belief        frames [n, context, H, W, C] in [0, 1], noise [n, S] -> belief, state [n, S]
    rollout_step  state [n, S], noise [n, S] (, skip [n] int32: frames skipped, 0 = the next)
                  -> next_state [n, S], frame [n, H, W, C] in [0, 1]

The observed frames come from a .npy file of float32 [n, T, H, W, C] in [0, 1] (T >= context;
the first `context` frames are observed), e.g. test sequences of moving:mnist_5k:

    python -c "from keras_vae import data; import numpy as np; \\
        np.save('frames.npy', data.load('moving:mnist_5k').examples('test', 4)['frames'])"
    python rollout.py OUT/onnx/td_vae_belief/1/model.onnx OUT/onnx/td_vae_rollout_step/1/model.onnx \\
        frames.npy --steps 8 --seed 0 --out rollouts.png

Each row of the PNG is one sequence: its last observed frame, then `steps` predicted frames.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from decode import fail, load_session, write_png  # noqa: E402  (beside this file)


def session(path, part):
    model = load_session(path)
    metadata = model.get_modelmeta().custom_metadata_map
    if metadata.get("part") != part:
        fail(f"{path} is not a keras_vae td_vae {part} (part={metadata.get('part')!r})")
    return model, metadata


def observed_frames(path, belief, context):
    """float32 [n, context, H, W, C] in [0, 1] from a .npy file of frames [n, T >= context, H, W,
    C]: float in [0, 1], or uint8 0..255 (divided by 255); the belief's H, W and C. Anything
    else is `fail`ed in one line."""
    try:
        frames = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        fail(f"cannot read {path} as a .npy array: {error}")
    height, width, channels = belief.get_inputs()[0].shape[2:]  # frames [n, context, H, W, C]
    if frames.ndim != 5 or frames.shape[1] < context or tuple(frames.shape[2:]) != (height, width, channels):
        fail(
            f"{path} must hold frames [n, T >= {context}, {height}, {width}, {channels}] (this td_vae's), "
            f"got {list(frames.shape)}"
        )
    if frames.dtype == np.uint8:
        return frames[:, :context].astype(np.float32) / 255
    if not np.issubdtype(frames.dtype, np.floating):
        fail(f"{path} holds {frames.dtype}: frames must be float in [0, 1] or uint8 0..255")
    frames = frames[:, :context].astype(np.float32)
    if not np.isfinite(frames).all():
        fail(f"{path} holds NaN or infinite frame values: frames must be in [0, 1]")
    if frames.min() < 0 or frames.max() > 1:
        fail(
            f"{path}'s frames lie in [{frames.min():g}, {frames.max():g}]: they must be in [0, 1] "
            "(uint8 0..255 is divided by 255)"
        )
    return frames


def rollout(belief, step, observed, steps, seed):
    """[n, steps, H, W, C]: z ~ p_B(z | b) from the observed frames, then `steps` one-frame jumps."""
    rng = np.random.default_rng(seed)
    size = int(json.loads(belief.get_modelmeta().custom_metadata_map["state_size"]))
    n = len(observed)
    noise = lambda: rng.standard_normal((n, size)).astype(np.float32)  # noqa: E731
    (state,) = belief.run(["state"], {"frames": observed, "noise": noise()})
    takes_skip = any(i.name == "skip" for i in step.get_inputs())
    frames = []
    for _ in range(steps):
        feed = {"state": state, "noise": noise(), **({"skip": np.zeros(n, np.int32)} if takes_skip else {})}
        state, frame = step.run(["next_state", "frame"], feed)
        frames.append(frame)
    return np.stack(frames, axis=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("belief", help="the td_vae belief .onnx file")
    parser.add_argument("step", help="the td_vae rollout_step .onnx file")
    parser.add_argument("frames", help=".npy file of float32 frames [n, T, H, W, C] in [0, 1]")
    parser.add_argument("--steps", type=int, default=8, help="frames to predict (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    parser.add_argument("--out", default="rollouts.png", help="PNG file to write (default rollouts.png)")
    args = parser.parse_args(argv)
    if args.steps < 1:
        fail(f"--steps must be >= 1, got {args.steps}")
    if not os.path.isfile(args.frames):
        fail(f"no such file: {args.frames}")
    belief, metadata = session(args.belief, "belief")
    step, _ = session(args.step, "rollout_step")
    context = int(json.loads(metadata["context"]))
    frames = observed_frames(args.frames, belief, context)
    predicted = rollout(belief, step, frames, args.steps, args.seed)
    rows = np.concatenate([frames[:, context - 1 : context], predicted], axis=1)  # last seen, then predicted
    n, columns, height, width, channels = rows.shape
    canvas = np.ones((n * (height + 1) - 1, columns * (width + 1) - 1, channels), np.float32)
    for r in range(n):
        for c in range(columns):
            canvas[r * (height + 1) : r * (height + 1) + height, c * (width + 1) : c * (width + 1) + width] = rows[r, c]
    write_png(args.out, canvas)
    np.save(os.path.splitext(args.out)[0] + ".npy", predicted)
    print(
        f"wrote {args.out}: {n} rollouts of {args.steps} frames from {metadata['entry']} "
        f"v{metadata.get('version', '?')}"
    )


if __name__ == "__main__":
    sys.exit(main())
