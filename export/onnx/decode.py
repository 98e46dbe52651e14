#!/usr/bin/env python
"""Decode samples with an exported keras_vae ONNX decoder (and prior) and write a PNG grid.

Needs only numpy and onnxruntime: no TensorFlow, no keras_vae. Copy this file anywhere. The
decoder's inputs are read from its metadata: latents get N(0, I) draws, a label input (a
conditional model's) gets --label, or every class in turn, and a grid of code indices (a
VQ-VAE's) is drawn from the exported PixelCNN prior given with --prior, position by position.

    python decode.py OUT/onnx/conv_vae_decoder/1/model.onnx --n 64 --seed 0 --out samples.png
    python decode.py OUT/onnx/cvae_decoder/1/model.onnx --label 3
    python decode.py OUT/onnx/vq_vae_decoder/1/model.onnx --prior OUT/onnx/vq_vae_prior/1/model.onnx
"""

import argparse
import json
import math
import os
import struct
import sys
import zlib

import numpy as np
import onnxruntime


def latents(n, latent_dim, seed):
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)


def decoder_inputs(metadata):
    """The decoder's declared inputs ({name, shape, dtype, values, classes} each)."""
    if "inputs" in metadata:
        return json.loads(metadata["inputs"])
    return [{"name": "z", "shape": [int(metadata["latent_dim"])], "dtype": "float32", "values": "normal"}]


def feeds(inputs, n, seed, label=None):
    """{input name: array}: N(0, I) latents, and labels (`label`, or 0, 1, ..., K-1, 0, ...).
    Raises ValueError for an input this script cannot fill."""
    out = {}
    for spec in inputs:
        if spec["values"] == "index" and spec["shape"]:
            continue  # a grid of codes: drawn from its prior (prior_feeds)
        if spec["values"] == "normal":
            out[spec["name"]] = latents(n, *spec["shape"], seed)
        elif spec["values"] == "index" and not spec["shape"]:
            classes = spec["classes"]
            if label is not None and not 0 <= label < classes:
                raise ValueError(f"--label must be in [0, {classes - 1}], got {label}")
            values = np.full(n, label) if label is not None else np.arange(n) % classes
            out[spec["name"]] = values.astype(spec["dtype"])
        else:
            raise ValueError(f"cannot fill input {spec['name']!r} ({spec['values']}): is this a decoder?")
    if label is not None and not any(spec["values"] == "index" and not spec["shape"] for spec in inputs):
        raise ValueError("--label given, but this decoder takes no label")
    return out


def sample_codes(prior, uniforms, condition=None):
    """int32 [n, h, w] codes from an exported PixelCNN prior (an onnxruntime session), drawn in
    raster order as keras_vae's `PixelCNN.sample_from_uniforms` draws them: at position i, with
    p = softmax(logits_i) and cdf = cumsum(p) in float32, the code is the number of k with
    cdf[k] <= u_i, at most num_codes - 1. uniforms: float32 [n, h * w] in [0, 1)."""
    metadata = prior.get_modelmeta().custom_metadata_map
    (height, width), num_codes = json.loads(metadata["grid_shape"]), int(metadata["num_codes"])
    codes = np.zeros((len(uniforms), height, width), np.int32)
    feeds = {"codes": codes, **({"condition": condition} if condition is not None else {})}
    for i in range(height * width):
        r, c = divmod(i, width)
        (logits,) = prior.run(["logits"], feeds)
        logits = logits[:, r, c].astype(np.float32)
        p = np.exp(logits - logits.max(axis=-1, keepdims=True))
        cdf = np.cumsum(p / p.sum(axis=-1, keepdims=True), axis=-1, dtype=np.float32)
        codes[:, r, c] = np.minimum((cdf <= uniforms[:, i : i + 1]).sum(axis=-1), num_codes - 1)
    return codes


def loop_order(grids, priors):
    """[(grid input, its prior, the grid it is conditioned on or None)] in the order the loops run:
    the decoder's input order, except that a prior waits for the grid it is conditioned on (its
    metadata's `condition_from`). Raises ValueError for a grid without its prior, or a condition
    no loop draws."""
    by_target = {p.get_modelmeta().custom_metadata_map.get("generates"): p for p in priors}
    pending = []
    for name in grids:
        if name not in by_target:
            raise ValueError(f"the decoder takes a grid of codes {name!r}: give the prior that draws it with --prior")
        pending.append(
            (name, by_target[name], by_target[name].get_modelmeta().custom_metadata_map.get("condition_from"))
        )
    order = []
    while pending:
        drawn = [name for name, _, _ in order]
        loop = next((loop for loop in pending if loop[2] is None or loop[2] in drawn), None)
        if loop is None:
            raise ValueError(
                f"no prior draws {pending[0][2]!r}, the grid the prior of {pending[0][0]!r} is conditioned on"
            )
        order.append(loop)
        pending.remove(loop)
    return order


def prior_feeds(inputs, priors, n, uniforms):
    """{decoder input name: codes} for every index-grid input, each from the prior whose
    metadata says it generates that input, in `loop_order`; each loop takes its uniforms
    [n, h * w] from `uniforms(shape)` in that order (one stream: the page draws the same way)."""
    grids = {spec["name"]: spec["shape"] for spec in inputs if spec["values"] == "index" and spec["shape"]}
    generated = {}
    for name, prior, condition_from in loop_order(grids, priors):
        u = uniforms((n, int(np.prod(grids[name]))))
        generated[name] = sample_codes(prior, u, generated.get(condition_from))
    return generated


def grid(images):
    """[N, H, W, C] in [0, 1] -> one image, ceil(sqrt(N)) columns, a 1-pixel white gap between
    (the layout of keras_vae.runner.plots.grid, kept here so this file stands alone)."""
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    n, height, width, channels = images.shape
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    canvas = np.ones((rows * (height + 1) - 1, columns * (width + 1) - 1, channels), np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * (height + 1) : r * (height + 1) + height, c * (width + 1) : c * (width + 1) + width] = image
    return canvas


def write_png(path, image):
    """An 8-bit grayscale (1 channel) or RGB (3 channels) PNG of floats in [0, 1]."""
    pixels = np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    height, width, channels = pixels.shape
    if channels not in (1, 3):
        raise SystemExit(f"error: cannot write {channels}-channel images as PNG")

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + row.tobytes() for row in pixels)  # filter byte 0: raw scanline
    header = struct.pack(">IIBBBBB", width, height, 8, 0 if channels == 1 else 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(
            b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a keras_vae decoder .onnx file")
    parser.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latents (default 0)")
    parser.add_argument("--label", type=int, help="class to draw, for a decoder that takes labels")
    parser.add_argument(
        "--prior",
        action="append",
        default=[],
        help="the exported prior of a decoder that takes code grids (a VQ-VAE's; repeat for each level)",
    )
    parser.add_argument("--out", default="samples.png", help="PNG file to write (default samples.png)")
    args = parser.parse_args(argv)
    for path in (args.model, *args.prior):
        if not os.path.isfile(path):
            parser.error(f"no such file: {path}")

    session = onnxruntime.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    metadata = session.get_modelmeta().custom_metadata_map  # written by keras_vae export
    if metadata.get("part") != "decoder":
        parser.error(f"{args.model} is not a keras_vae decoder (part={metadata.get('part')!r})")
    priors = [onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"]) for path in args.prior]
    try:
        inputs = feeds(decoder_inputs(metadata), args.n, args.seed, args.label)
        rng = np.random.default_rng(args.seed)
        inputs.update(
            prior_feeds(decoder_inputs(metadata), priors, args.n, lambda shape: rng.random(shape, dtype=np.float32))
        )
    except ValueError as error:
        parser.error(str(error))
    (images,) = session.run(["images"], inputs)
    write_png(args.out, grid(images))
    print(f"wrote {args.out}: {args.n} samples of {metadata['entry']} v{metadata.get('version', '?')}")


if __name__ == "__main__":
    sys.exit(main())
