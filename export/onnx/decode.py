#!/usr/bin/env python
"""Decode samples with an exported keras_vae ONNX decoder (and prior) and write a titled PNG grid.

Needs only numpy and onnxruntime: no TensorFlow, no keras_vae. Copy this file anywhere. The
decoder's inputs are read from its metadata: latents get N(0, I) draws, a label input (a
conditional model's) gets --label, or every class in turn, and a grid of code indices (a
VQ-VAE's) is drawn from the exported PixelCNN prior given with --prior, position by position.
The PNG has a title (entry, version, seed) and a label left of each row: its sample numbers, or
with every class in turn, one row a class ("label 3").

    python decode.py OUT/onnx/conv_vae_decoder/1/model.onnx --n 64 --seed 0 --out samples.png
    python decode.py OUT/onnx/cvae_decoder/1/model.onnx --label 3
    python decode.py OUT/onnx/vq_vae_decoder/1/model.onnx --prior OUT/onnx/vq_vae_prior/1/model.onnx
"""

import argparse
import base64
import json
import math
import os
import struct
import sys
import textwrap
import zlib

import numpy as np
import onnxruntime


def fail(message):
    """One `error:` line on stderr and exit status 2, as the keras-vae command line does."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def load_session(path):
    """An onnxruntime session of `path`, or `fail` in one line: a missing, truncated or corrupt
    file, or one of an IR version newer than this onnxruntime reads (its own message says which)."""
    if not os.path.isfile(path):
        fail(f"no such file: {path}")
    try:
        return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own classes (InvalidProtobuf, Fail, ...)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        fail(
            f"onnxruntime {onnxruntime.__version__} cannot load {path}: {reason} (a truncated or corrupt file, "
            "or one exported for a newer onnxruntime: export again, or upgrade onnxruntime)"
        )


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


def grid(images, columns=None):
    """[N, H, W, C] in [0, 1] -> one image, `columns` (default ceil(sqrt(N))) a row, a 1-pixel
    white gap between (the layout of keras_vae.runner.plots.grid, kept here so this file stands
    alone)."""
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    n, height, width, channels = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    canvas = np.ones((rows * (height + 1) - 1, columns * (width + 1) - 1, channels), np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * (height + 1) : r * (height + 1) + height, c * (width + 1) : c * (width + 1) + width] = image
    return canvas


# A 9 x 15 pixel bitmap of each printable ASCII character (32..126), 1 = ink, packed bits, zlib,
# base64: drawn from Pillow's default font once, so this file writes text without Pillow.
GLYPH = (15, 9)
FONT = (
    "eNp1VDFoGlEYvnee57MYPZMMZyiepxLMUs5mESrBXMXYIiXQpYUMJi0hUygZSgdpT72aG6QIdTBbKCVTC5k6X6LQxSHt1G4m"
    "gdLRTHEIpe/u3nteYnvbffff/3/f93/vMczkwwJGy8UEyLEYuOVltWsVCNg9XR6uplLOeyx7bzboMQ8ffKpAGwC99sM5D1hP"
    "td85FeBU01SpY+TlIe6BRrhbopmmPdSDvlgAZIHDgmfZcZmWG6WS1/5aHglwQoIgujCPNqnRmWFRF9AIpBSQ4q4s6qocbtZN"
    "DPiwGaQiFOjFFAE9Eu4bjRi58kDUC1FcEeC9fE1NjCCHgatcTAqY8XDnFQaGJfVOxMgnFOyGZyhCiwYd4jlOw352UTC6mIav"
    "sRGG/aVExOcWb/nEuRdnOzeGQJ1lTNGlW0KtB24jFJ6p1mn5kWIEOA53tmicz13+LB08ftlPOH95gLl/UlqShR94exLsxdPD"
    "ppqQcI+o0NlCZjVU4sZIlVvF5HREHI3dEEI6InuFp46Qw5LLYXAxVdNW9p88T/92AJic9nN/lmOtYuw/EcXv+fkgBuSw/229"
    "OujkExggS9Rek73Wz79tfdkr/drAgF//8DT5vvhxRySZ9TeqOURDxo750FKaFasP7unT5+e8bHW9tWu63TAKskCyETYKwJ2N"
    "NxzhjodwNUtXcobYAzi0ab9ezQ3KWHxvZ6H9faG9fRfz4haFk4wY9AfyCq6Yl5XVjMtAyczlyrGYokgOLxHSqTyJvYUgAEsZ"
    "CLQkQ5IhzvrhP44OA+gRnvhy1ILZ+EwIfxCgt5uGuroo0QoUYzRlM0oTG2r24lawaUU0AlfOQAufFCQjg5nRisqmLBiF9Qt0"
    "QCw3WPCiryIkT7LB3MgGx9C0AKDZ4qFeq5qHxTi5Loj48VG53D5Li81CnAJr6DDmEVUKDHtocaX7JhVv02h+PSanB1x00E0S"
    "2TXJsoHpXHFjN7guMxDzWUojeJOGbA8VKxTQ4+EptmrSqWx679HntYNnCqXRKYoBnmuUCcAnBKM4G+SBIx5NHVjRUPD1FbCl"
    "a87V60RjnBbbQ9P+ZiPKeNe3/WT9fwFQ6twR"
)


def glyphs():
    """{character: bool [15, 9]} for the printable ASCII characters."""
    bits = np.unpackbits(np.frombuffer(zlib.decompress(base64.b64decode("".join(FONT))), np.uint8))
    shapes = bits[: 95 * GLYPH[0] * GLYPH[1]].reshape(95, *GLYPH).astype(bool)
    return {chr(32 + i): shape for i, shape in enumerate(shapes)}


def text_width(line):
    return len(line) * GLYPH[1]


def draw_text(canvas, line, top, left):
    """Ink `line` (black) into canvas [H, W, C] at pixel (top, left); other characters are '?'."""
    font = glyphs()
    for i, char in enumerate(line):
        glyph = font.get(char, font["?"])
        x = left + i * GLYPH[1]
        area = canvas[top : top + GLYPH[0], x : x + GLYPH[1]]
        area[glyph[: area.shape[0], : area.shape[1]]] = 0.0


MARGIN = 8


def figure(images, title, columns, row_labels, scale=None):
    """The images as a grid of `columns`, each pixel a `scale` block (default: tiles at least 56
    pixels high), under `title` (wrapped), `row_labels` left of the rows: float [H, W, C] in [0, 1]."""
    images = np.asarray(images, np.float32)
    scale = scale or max(1, math.ceil(56 / images.shape[1]))
    tiles = grid(images, columns).repeat(scale, 0).repeat(scale, 1)
    left = max((text_width(label) for label in row_labels), default=0) + 2 * MARGIN
    width = max(left + tiles.shape[1] + MARGIN, 400)
    lines = textwrap.wrap(title, max(1, (width - 2 * MARGIN) // GLYPH[1]))
    top = MARGIN + len(lines) * (GLYPH[0] + 3) + MARGIN
    canvas = np.ones((top + tiles.shape[0] + MARGIN, width, tiles.shape[-1]), np.float32)
    canvas[top : top + tiles.shape[0], left : left + tiles.shape[1]] = tiles
    for i, line in enumerate(lines):
        draw_text(canvas, line, MARGIN + i * (GLYPH[0] + 3), MARGIN)
    row_height = (images.shape[1] + 1) * scale
    for r, label in enumerate(row_labels):
        draw_text(canvas, label, top + r * row_height + (images.shape[1] * scale - GLYPH[0]) // 2, MARGIN)
    return canvas


def layout(images, labels, columns=None):
    """(images, columns, row labels): a decoder's images arranged for `figure`. With labels
    cycling through the classes, one row a class ("label 3"), its samples in order; else
    `columns` a row (default ceil(sqrt(N))), each row named by its sample numbers ("1-8")."""
    n = len(images)
    if labels is not None and len(set(labels.tolist())) > 1:
        classes = sorted(set(labels.tolist()))
        columns = max(int((labels == c).sum()) for c in classes)
        blank = np.ones_like(images[:1])
        rows = []
        for c in classes:
            chosen = images[labels == c]
            rows.append(np.concatenate([chosen, *[blank] * (columns - len(chosen))]))
        return np.concatenate(rows), columns, [f"label {c}" for c in classes]
    columns = columns or math.ceil(math.sqrt(n))
    starts = range(0, n, columns)
    return images, columns, [f"{s + 1}-{min(s + columns, n)}" if columns > 1 else str(s + 1) for s in starts]


def write_png(path, image):
    """An 8-bit grayscale (1 channel) or RGB (3 channels) PNG of floats in [0, 1]."""
    pixels = np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    height, width, channels = pixels.shape
    if channels not in (1, 3):
        fail(f"cannot write {channels}-channel images as PNG")

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
    if args.n < 1:
        fail(f"--n must be >= 1, got {args.n}")
    session = load_session(args.model)
    metadata = session.get_modelmeta().custom_metadata_map  # written by keras_vae export
    if metadata.get("part") != "decoder":
        fail(f"{args.model} is not a keras_vae decoder (part={metadata.get('part')!r})")
    priors = [load_session(path) for path in args.prior]
    try:
        inputs = feeds(decoder_inputs(metadata), args.n, args.seed, args.label)
        rng = np.random.default_rng(args.seed)
        inputs.update(
            prior_feeds(decoder_inputs(metadata), priors, args.n, lambda shape: rng.random(shape, dtype=np.float32))
        )
    except ValueError as error:
        fail(str(error))
    (images,) = session.run(["images"], inputs)
    labels = next(
        (inputs[s["name"]] for s in decoder_inputs(metadata) if s["values"] == "index" and not s["shape"]), None
    )
    given = f", label {args.label}" if args.label is not None else ""
    title = f"{args.n} samples of {metadata['entry']} v{metadata.get('version', '?')} (ONNX, seed {args.seed}{given})"
    arranged, columns, row_labels = layout(images, labels)
    write_png(args.out, figure(arranged, title, columns, row_labels))
    print(f"wrote {args.out}: {args.n} samples of {metadata['entry']} v{metadata.get('version', '?')}")


if __name__ == "__main__":
    sys.exit(main())
