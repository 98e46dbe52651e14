// A keras_vae ONNX decoder in onnxruntime-web: checks the file is one, then decodes latents
// (and, for a conditional decoder, the labels its metadata declares).
import { readMetadata } from "./onnx-metadata.js";

const DIST = new URL("./node_modules/onnxruntime-web/dist/", import.meta.url).href;
const EXPORT_HINT = "Export a decoder with: python -m keras_vae.zoo export RUN_DIR --format onnx";

// An error whose message is written for the page's reader.
export class PageError extends Error {}

let ort = null;
async function runtime() {
  if (ort) return ort;
  try {
    ort = await import(DIST + "ort.wasm.min.mjs"); // the wasm-only build: no WebGL/WebGPU code
  } catch (error) {
    throw new PageError(`Could not load onnxruntime-web from ${DIST} (${error.message}). ` +
      "Run `npm ci` in export/web and serve the page over http: python -m keras_vae.zoo serve-web");
  }
  ort.env.wasm.wasmPaths = DIST;
  ort.env.wasm.numThreads = 1; // threads need cross-origin isolation; one is plenty here
  return ort;
}

function positiveInts(value, length) {
  return Array.isArray(value) && value.length === length && value.every((v) => Number.isInteger(v) && v > 0);
}

function parse(props, key, name) {
  try {
    return JSON.parse(props[key]);
  } catch (error) {
    throw new PageError(`${name} has malformed keras_vae metadata (${key}): ${error.message}`);
  }
}

// The decoder's declared inputs from its keras_vae metadata: "inputs" (a JSON list of
// {name, shape, dtype, values, classes}), or for exports older than it, a single z of latent_dim.
function declaredInputs(props, name) {
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

// What the page can feed: one float32 latent `z` [latent_dim] drawn from N(0, 1), and any
// number of integer "index" inputs of shape [] (a label per image, in [0, classes)): a picker each.
function checkInputs(inputs, name) {
  const cannot = (input, why) => new PageError(`${name} has an input this page cannot feed: ` +
    `${input.name} (${input.dtype} [batch${input.shape.map((d) => `, ${d}`).join("")}], ` +
    `values ${input.values}): ${why}.`);
  let latentDim = null;
  const conditions = [];
  for (const input of inputs) {
    if (input.name === "z") {
      if (input.dtype !== "float32" || input.values !== "normal") throw cannot(input, "z must be float32 N(0, 1) values");
      if (!positiveInts(input.shape, 1)) throw cannot(input, "z must be a vector");
      latentDim = input.shape[0];
    } else if (input.values === "index") {
      if (!["int32", "int64"].includes(input.dtype)) throw cannot(input, "labels must be int32 or int64");
      if (input.shape.length !== 0) throw cannot(input, "the page picks one label per image");
      if (!positiveInts([input.classes], 1)) throw cannot(input, "its classes must be a positive integer");
      conditions.push({ name: input.name, dtype: input.dtype, classes: input.classes });
    } else {
      throw cannot(input, "the page feeds only z and integer labels");
    }
  }
  if (latentDim === null) {
    throw new PageError(`${name} has no latent input z (its inputs: ${inputs.map((i) => i.name).join(", ")}).`);
  }
  return { latentDim, conditions };
}

// The decoder's interface from its keras_vae metadata (strings; JSON for numbers and lists).
function checkMetadata(props, name) {
  const missing = ["keras_vae_version", "part"].filter((k) => !(k in props));
  if (missing.length) {
    throw new PageError(`${name} is not a keras_vae export: its ONNX metadata has no ` +
      `${missing.join(", ")}.\n${EXPORT_HINT}`);
  }
  if (props.part !== "decoder") {
    throw new PageError(`${name} is the ${props.part} of ${props.entry}, not a decoder.\n${EXPORT_HINT}`);
  }
  const inputs = declaredInputs(props, name);
  const { latentDim, conditions } = checkInputs(inputs, name);
  let imageShape;
  if ("image_shape" in props) imageShape = parse(props, "image_shape", name);
  else if ("outputs" in props) imageShape = parse(props, "outputs", name)?.images;
  if (!positiveInts(imageShape, 3) || ![1, 3].includes(imageShape[2])) {
    throw new PageError(`${name} has keras_vae metadata this page cannot show: latent_dim=` +
      `${latentDim}, image_shape=${JSON.stringify(imageShape ?? null)} (expected [height, width, 1 or 3])`);
  }
  return { ...props, inputs, latentDim, imageShape, conditions };
}

export class Decoder {
  // `buffer`: the bytes of an .onnx file; `name`: how messages call it.
  static async load(buffer, name) {
    let props;
    try {
      props = readMetadata(buffer);
    } catch (error) {
      throw new PageError(`${name} is not an ONNX model file (${error.message}).`);
    }
    const meta = checkMetadata(props, name);
    const ort = await runtime();
    let session;
    try {
      session = await ort.InferenceSession.create(new Uint8Array(buffer), { executionProviders: ["wasm"] });
    } catch (error) {
      throw new PageError(`onnxruntime-web could not load ${name}: ${error.message}`);
    }
    const declared = meta.inputs.map((i) => i.name);
    const sameInputs = declared.length === session.inputNames.length && declared.every((n) => session.inputNames.includes(n));
    if (!sameInputs || !session.outputNames.includes("images")) {
      throw new PageError(`${name} does not have the decoder interface its keras_vae metadata declares, ` +
        `${declared.join(", ")} -> images (it has ${session.inputNames.join(", ")} -> ${session.outputNames.join(", ")}).`);
    }
    return new Decoder(ort, session, meta, name);
  }

  constructor(ort, session, meta, name) {
    Object.assign(this, { ort, session, meta, name, queue: Promise.resolve() });
  }

  check(row) {
    const { latentDim } = this.meta;
    if (row.length !== latentDim) {
      throw new PageError(`The latent vector has ${row.length} value${row.length === 1 ? "" : "s"}, ` +
        `but this decoder takes ${latentDim} (latent_dim in its metadata).`);
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

  // Latent rows (arrays of numbers) and the labels every row takes ({name: value} for each of
  // meta.conditions; {} for an unconditional decoder) -> Float32Array [n, H, W, C]. Runs one at
  // a time: a wasm session does not take overlapping runs.
  decode(rows, labels = {}) {
    const { latentDim, imageShape, conditions } = this.meta;
    rows.forEach((row) => this.check(row));
    this.checkLabels(labels);
    const feeds = { z: new this.ort.Tensor("float32", Float32Array.from(rows.flat()), [rows.length, latentDim]) };
    for (const { name, dtype } of conditions) {
      const data = dtype === "int64" ? new BigInt64Array(rows.length).fill(BigInt(labels[name]))
        : new Int32Array(rows.length).fill(labels[name]);
      feeds[name] = new this.ort.Tensor(dtype, data, [rows.length]);
    }
    const run = this.queue.then(async () => {
      const { images } = await this.session.run(feeds);
      const want = [rows.length, ...imageShape];
      if (images.dims.join() !== want.join()) {
        throw new PageError(`${this.name} returned images of shape [${images.dims}], ` +
          `but its metadata says [${want}].`);
      }
      return images.data;
    });
    this.queue = run.catch(() => {});
    return run;
  }
}
