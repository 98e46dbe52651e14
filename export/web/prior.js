// A keras_vae ONNX prior over a decoder's grid of codes (a VQ-VAE's PixelCNN) in onnxruntime-web.
// One call gives the logits of every position; the autoregressive loop is ours: position by
// position in raster order, with the sampling rule the export declares.
import { declaredInputs, loadSession, PageError, parse, runtime, shapeText, tensor } from "./decoder.js";
import { readMetadata } from "./onnx-metadata.js";

const EXPORT_HINT = "Export both parts with: python -m keras_vae.zoo export RUN_DIR --format onnx --part all";

// The code at one position: the inverse CDF of softmax(logits) at u, computed as
// PixelCNN.sample_from_uniforms defines it (keras_vae/models/vq/pixelcnn.py), in float32:
// p = softmax(logits), cdf = cumsum(p), code = #{k: cdf[k] <= u}, at most classes - 1 (for a u
// above a rounded cdf[classes - 1] < 1). Math.fround after each operation gives float32
// arithmetic exactly (double rounding is harmless for + and /), so a reimplementation with numpy
// float32 in this order draws the same codes from the same logits and u.
export function inverseCdf(logits, offset, classes, u) {
  let max = -Infinity;
  for (let k = 0; k < classes; k++) max = Math.max(max, logits[offset + k]);
  const e = new Float32Array(classes); // storing rounds to float32
  let sum = 0;
  for (let k = 0; k < classes; k++) {
    e[k] = Math.exp(Math.fround(logits[offset + k] - max));
    sum = Math.fround(sum + e[k]);
  }
  let cdf = 0;
  let below = 0;
  for (let k = 0; k < classes; k++) {
    cdf = Math.fround(cdf + Math.fround(e[k] / sum));
    if (cdf <= u) below++;
  }
  return Math.min(below, classes - 1);
}

// Why the prior cannot sample for this decoder, or null: it must take exactly the decoder's grid
// of codes (same shape, same number of codes) and give logits [batch, ...grid, classes], in
// raster order, with nothing else to feed (a conditioned prior, VQ-VAE-2's bottom level, needs
// the top codes).
function mismatch(props, inputs, latent) {
  if (props.part !== "prior") return `it is the ${props.part} of ${props.entry}, not a prior`;
  if (inputs.length !== 1) return `it takes ${inputs.map((i) => i.name).join(", ")}; the page feeds a prior one grid of codes`;
  const [input] = inputs;
  if (input.values !== "index" || input.shape.join() !== latent.shape.join() || input.classes !== latent.classes) {
    return `it takes ${input.name} ${shapeText(input.shape)} of ${input.classes} codes, the decoder ` +
      `${latent.name} ${shapeText(latent.shape)} of ${latent.classes}`;
  }
  if (!["int32", "int64"].includes(input.dtype)) return `its codes are ${input.dtype}, not int32 or int64`;
  if ((props.order ?? "raster") !== "raster") return `its order is ${props.order}; the page samples in raster order`;
  return null;
}

export class Prior {
  // `buffer`: the bytes of an .onnx file; `name`: how messages call it; `decoder`: the Decoder
  // whose codes it draws.
  static async load(buffer, name, decoder) {
    let props;
    try {
      props = readMetadata(buffer);
    } catch (error) {
      throw new PageError(`${name} is not an ONNX model file (${error.message}).`);
    }
    if (!("keras_vae_version" in props && "part" in props)) {
      throw new PageError(`${name} is not a keras_vae export: its ONNX metadata has no keras_vae_version or part.\n${EXPORT_HINT}`);
    }
    const inputs = declaredInputs(props, name);
    const why = mismatch(props, inputs, decoder.meta.latent);
    if (why) throw new PageError(`${name} cannot sample codes for the decoder ${decoder.name}: ${why}.\n${EXPORT_HINT}`);
    const session = await loadSession(buffer, name);
    if (session.inputNames.join() !== inputs[0].name || !session.outputNames.includes("logits")) {
      throw new PageError(`${name} does not have the prior interface its keras_vae metadata declares, ` +
        `${inputs[0].name} -> logits (it has ${session.inputNames.join(", ")} -> ${session.outputNames.join(", ")}).`);
    }
    return new Prior(await runtime(), session, { ...props, input: inputs[0], grid: parse(props, "grid_shape", name) }, name);
  }

  constructor(ort, session, meta, name) {
    Object.assign(this, { ort, session, meta, name, queue: Promise.resolve() });
  }

  // Codes for n images: Int32Array [n * positions], row b holding image b's grid in raster
  // order. `u`: n * positions uniforms in [0, 1), u[b * positions + i] for position i of image b.
  // One prior call per position, on the whole batch: the logits at position i only depend on
  // the codes before i (the causal masks), so the codes still zero at >= i do not matter.
  // `progress(done, positions)` is called after each position. Loops run one after another: a
  // wasm session does not take overlapping runs.
  sample(u, n, progress = () => {}) {
    const run = this.queue.then(() => this.loop(u, n, progress));
    this.queue = run.catch(() => {});
    return run;
  }

  async loop(u, n, progress) {
    const { name: input, shape, dtype, classes } = this.meta.input;
    const positions = shape.reduce((a, b) => a * b, 1);
    if (u.length !== n * positions) throw new Error(`sample: ${u.length} uniforms for ${n} × ${positions} codes`);
    const codes = new Int32Array(n * positions);
    for (let i = 0; i < positions; i++) {
      const { logits } = await this.session.run({ [input]: tensor(this.ort, dtype, codes, [n, ...shape]) });
      if (logits.dims.join() !== [n, ...shape, classes].join()) {
        throw new PageError(`${this.name} returned logits of shape [${logits.dims}], not [${[n, ...shape, classes]}].`);
      }
      for (let b = 0; b < n; b++) {
        const at = b * positions + i;
        codes[at] = inverseCdf(logits.data, at * classes, classes, u[at]);
      }
      progress(i + 1, positions);
    }
    return codes;
  }
}
