// A keras_vae ONNX decoder: checks the file is one, then decodes latents (a z vector, or a
// VQ-VAE's grids of code indices) and, for a conditional decoder, the labels its metadata
// declares. Its onnxruntime-web session lives in the inference worker (inference.js).
import { PageError } from "./errors.js";
import { Session } from "./inference.js";
import { readMetadata } from "./onnx-metadata.js";

const EXPORT_HINT = "Export a decoder with: python -m keras_vae.zoo export RUN_DIR --format onnx";

export function positiveInts(value, length) {
  return Array.isArray(value) && value.length === length && value.every((v) => Number.isInteger(v) && v > 0);
}

export function parse(props, key, name) {
  try {
    return JSON.parse(props[key]);
  } catch (error) {
    throw new PageError(`${name} has malformed keras_vae metadata (${key}): ${error.message}`);
  }
}

// The decoder's declared inputs from its keras_vae metadata: "inputs" (a JSON list of
// {name, shape, dtype, values, classes}), or for exports older than it, a single z of latent_dim.
export function declaredInputs(props, name) {
  if (!("inputs" in props)) {
    if (!("latent_dim" in props)) {
      throw new PageError(`${name} is not a keras_vae export: its ONNX metadata has neither inputs ` +
        `nor latent_dim.\n${EXPORT_HINT}`);
    }
    return [{ name: "z", shape: [parse(props, "latent_dim", name)], dtype: "float32", values: "normal", classes: null }];
  }
  const inputs = parse(props, "inputs", name);
  if (!Array.isArray(inputs) || !inputs.every((i) => i && typeof i.name === "string" && Array.isArray(i.shape))) {
    throw new PageError(`${name} has malformed keras_vae metadata: inputs=${props.inputs}`);
  }
  return inputs;
}

export const shapeText = (shape) => `[batch${shape.map((d) => `, ${d}`).join("")}]`;

// What the page can feed, a latent input and any labels:
//   z: float32 [latent_dim] drawn from N(0, 1) (the sliders, the plane, N(0, I) samples), or
//   grids of codes: integer "index" inputs of any shape [h, w, ...] with values in [0, classes)
//     (a VQ-VAE's decoder: one grid; VQ-VAE-2's: a top and a bottom grid), typed codes, and
//     samples from their priors;
//   labels: integer "index" inputs of shape [] (one label per image, in [0, classes)): a picker each.
function checkInputs(inputs, name) {
  const cannot = (input, why) => new PageError(`${name} has an input this page cannot feed: ` +
    `${input.name} (${input.dtype} ${shapeText(input.shape)}, values ${input.values}): ${why}.`);
  const latents = [];
  const conditions = [];
  for (const input of inputs) {
    const { name: inputName, shape, dtype, values, classes } = input;
    if (inputName === "z") {
      if (dtype !== "float32" || values !== "normal") throw cannot(input, "z must be float32 N(0, 1) values");
      if (!positiveInts(shape, 1)) throw cannot(input, "z must be a vector");
    } else if (values === "index") {
      if (!["int32", "int64"].includes(dtype)) throw cannot(input, "indices must be int32 or int64");
      if (!positiveInts([classes], 1)) throw cannot(input, "its classes must be a positive integer");
      if (shape.length === 0) {
        conditions.push({ name: inputName, dtype, classes });
        continue;
      }
      if (!positiveInts(shape, shape.length)) throw cannot(input, "a grid of codes needs positive sides");
    } else {
      throw cannot(input, "the page feeds only z, grids of codes and integer labels");
    }
    if (latents.some((l) => (l.values === "index") !== (values === "index"))) {
      throw cannot(input, `the page feeds z or grids of codes, not both, and ${latents[0].name} is one`);
    }
    if (values !== "index" && latents.length) throw cannot(input, `the page feeds one z, and ${latents[0].name} is one`);
    latents.push({ name: inputName, shape, dtype, values, classes });
  }
  if (!latents.length) {
    throw new PageError(`${name} has no latent input, z or a grid of codes (its inputs: ` +
      `${inputs.map((i) => i.name).join(", ")}).`);
  }
  // A latent row is every latent input's numbers one after another, in input order (a grid's in
  // raster order): `offset` and `size` place each input in it; latentDim is its length.
  let latentDim = 0;
  for (const latent of latents) {
    Object.assign(latent, { offset: latentDim, size: latent.shape.reduce((a, b) => a * b, 1) });
    latentDim += latent.size;
  }
  const latentName = latents.map((l) => l.name).join(", ");
  return { latents, latentName, latentDim, codes: latents[0].values === "index", conditions };
}

// The keras_vae metadata of an .onnx file's bytes (decoder, prior or sampler alike), or a
// PageError naming `name`: not an ONNX file, or no keras_vae export (`hint`: how to export one).
export function readExport(buffer, name, hint) {
  let props;
  try {
    props = readMetadata(buffer);
  } catch (error) {
    throw new PageError(`${name} is not an ONNX model file (${error.message}).`);
  }
  const missing = ["keras_vae_version", "part"].filter((k) => !(k in props));
  if (missing.length) {
    throw new PageError(`${name} is not a keras_vae export: its ONNX metadata has no ` +
      `${missing.join(", ")}.\n${hint}`);
  }
  return props;
}

// The decoder's interface from its keras_vae metadata (strings; JSON for numbers and lists).
function checkMetadata(props, name) {
  if (props.part !== "decoder") {
    throw new PageError(`${name} is the ${props.part} of ${props.entry}, not a decoder.\n${EXPORT_HINT}`);
  }
  const inputs = declaredInputs(props, name);
  const { latents, latentName, latentDim, codes, conditions } = checkInputs(inputs, name);
  let imageShape;
  if ("image_shape" in props) imageShape = parse(props, "image_shape", name);
  else if ("outputs" in props) imageShape = parse(props, "outputs", name)?.images;
  if (!positiveInts(imageShape, 3) || ![1, 3].includes(imageShape[2])) {
    throw new PageError(`${name} has keras_vae metadata this page cannot show: latent_dim=` +
      `${latentDim}, image_shape=${JSON.stringify(imageShape ?? null)} (expected [height, width, 1 or 3])`);
  }
  return { ...props, inputs, latents, latentName, latentDim, codes, imageShape, conditions };
}

// A feed for the inference worker: `values` (numbers) as the input's dtype; int64 inputs are
// sent as int32 (the worker widens them), which holds every code and label.
function feed(dtype, values, dims) {
  return { dtype, data: dtype === "float32" ? Float32Array.from(values) : Int32Array.from(values), dims };
}

export class Decoder {
  // `buffer`: the bytes of an .onnx file; `name`: how messages call it.
  static async load(buffer, name) {
    const meta = checkMetadata(readExport(buffer, name, EXPORT_HINT), name);
    const session = await Session.open(buffer, name);
    const declared = meta.inputs.map((i) => i.name);
    const sameInputs = declared.length === session.inputNames.length && declared.every((n) => session.inputNames.includes(n));
    if (!sameInputs || !session.outputNames.includes("images")) {
      session.release();
      throw new PageError(`${name} does not have the decoder interface its keras_vae metadata declares, ` +
        `${declared.join(", ")} -> images (it has ${session.inputNames.join(", ")} -> ${session.outputNames.join(", ")}).`);
    }
    return new Decoder(session, meta, name);
  }

  constructor(session, meta, name) {
    Object.assign(this, { session, meta, name });
  }

  // One latent row: latent_dim numbers, or for grids of codes, one integer in [0, classes) per
  // position of each grid in raster order, the grids in input order.
  check(row) {
    const { latentDim, latents, codes } = this.meta;
    if (row.length !== latentDim) {
      const plural = row.length === 1 ? "" : "s";
      const shapes = latents.map((l) => `${l.name} ${l.shape.join("×")}`).join(" then ");
      throw new PageError(codes
        ? `The code grid${latents.length > 1 ? "s have" : " has"} ${row.length} value${plural}, but this decoder takes ` +
          `${latentDim} (${shapes}, the shape${latents.length > 1 ? "s" : ""} in its metadata).`
        : `The latent vector has ${row.length} value${plural}, but this decoder takes ${latentDim} (latent_dim in its metadata).`);
    }
    if (!codes) return;
    for (const { name, offset, size, classes } of latents) {
      const bad = row.slice(offset, offset + size).findIndex((v) => !Number.isInteger(v) || v < 0 || v >= classes);
      if (bad >= 0) {
        throw new PageError(`The code ${row[offset + bad]} at position ${bad}${latents.length > 1 ? ` of ${name}` : ""} ` +
          `is not one of ${latents.length > 1 ? "its" : "this decoder's"} codes 0..${classes - 1}.`);
      }
    }
  }

  // A label for each integer input: {name: value}, value in [0, classes).
  checkLabels(labels) {
    for (const { name, classes } of this.meta.conditions) {
      const value = labels?.[name];
      if (!Number.isInteger(value) || value < 0 || value >= classes) {
        throw new PageError(`The label ${name} = ${value} is not one of this decoder's classes 0..${classes - 1}.`);
      }
    }
  }

  // Latent rows (arrays of numbers: z, or each grid's codes in raster order) and the labels every row takes
  // ({name: value} for each of meta.conditions; {} for an unconditional decoder) ->
  // Float32Array [n, H, W, C]. The worker runs a session's calls one at a time, in order.
  async decode(rows, labels = {}) {
    const { latents, imageShape, conditions } = this.meta;
    rows.forEach((row) => this.check(row));
    this.checkLabels(labels);
    const feeds = {};
    for (const { name, dtype, shape, offset, size } of latents) {
      feeds[name] = feed(dtype, rows.flatMap((row) => row.slice(offset, offset + size)), [rows.length, ...shape]);
    }
    for (const { name, dtype } of conditions) feeds[name] = feed(dtype, new Array(rows.length).fill(labels[name]), [rows.length]);
    const { images } = await this.session.run(feeds);
    const want = [rows.length, ...imageShape];
    if (images.dims.join() !== want.join()) {
      throw new PageError(`${this.name} returned images of shape [${images.dims}], but its metadata says [${want}].`);
    }
    return images.data;
  }
}
