// A keras_vae ONNX decoder in onnxruntime-web: checks the file is one, then decodes latents.
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

// The decoder's shape from its keras_vae metadata (strings; JSON for numbers and lists).
function checkMetadata(props, name) {
  const missing = ["keras_vae_version", "part", "latent_dim", "image_shape"].filter((k) => !(k in props));
  if (missing.length) {
    throw new PageError(`${name} is not a keras_vae export: its ONNX metadata has no ` +
      `${missing.join(", ")}.\n${EXPORT_HINT}`);
  }
  if (props.part !== "decoder") {
    throw new PageError(`${name} is the ${props.part} of ${props.entry}, not a decoder.\n${EXPORT_HINT}`);
  }
  let latentDim, imageShape;
  try {
    latentDim = JSON.parse(props.latent_dim);
    imageShape = JSON.parse(props.image_shape);
  } catch (error) {
    throw new PageError(`${name} has malformed keras_vae metadata: ${error.message}`);
  }
  if (!positiveInts([latentDim], 1) || !positiveInts(imageShape, 3) || ![1, 3].includes(imageShape[2])) {
    throw new PageError(`${name} has keras_vae metadata this page cannot show: latent_dim=` +
      `${props.latent_dim}, image_shape=${props.image_shape} (expected [height, width, 1 or 3])`);
  }
  return { ...props, latentDim, imageShape };
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
    if (!session.inputNames.includes("z") || !session.outputNames.includes("images")) {
      throw new PageError(`${name} does not have the keras_vae decoder interface z -> images ` +
        `(it has ${session.inputNames.join(", ")} -> ${session.outputNames.join(", ")}).`);
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

  // Latent rows (arrays of numbers) -> Float32Array [n, H, W, C]. Runs one at a time: a wasm
  // session does not take overlapping runs.
  decode(rows) {
    const { latentDim, imageShape } = this.meta;
    rows.forEach((row) => this.check(row));
    const z = new this.ort.Tensor("float32", Float32Array.from(rows.flat()), [rows.length, latentDim]);
    const run = this.queue.then(async () => {
      const { images } = await this.session.run({ z });
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
