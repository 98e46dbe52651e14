// A keras_vae ONNX prior over one of a decoder's grids of codes (a VQ-VAE's PixelCNN; VQ-VAE-2's
// top one, or its bottom one, conditioned on the top codes) in onnxruntime-web.
// One call gives the logits of every position; the autoregressive loop is ours: position by
// position in raster order, with the sampling rule the export declares.
import { declaredInputs, loadSession, PageError, runtime, shapeText, tensor } from "./decoder.js";
import { readMetadata } from "./onnx-metadata.js";

const EXPORT_HINT = "Export every part with: python -m keras_vae.zoo export RUN_DIR --format onnx --part all";

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

// Whether ONNX metadata `props` are a prior's: its part is "prior" (a VQ-VAE's) or it names the
// decoder input its loop generates (VQ-VAE-2's "top_prior" and "bottom_prior").
export const isPrior = (props) => props.part === "prior" || "generates" in props;

// Why `input` cannot take the decoder's grid `grid`, or null: the same shape, the same number of
// codes, integers.
function gridMismatch(input, grid) {
  if (input.values !== "index" || input.shape.join() !== grid.shape.join() || input.classes !== grid.classes) {
    return `it takes ${input.name} ${shapeText(input.shape)} of ${input.classes} codes, the decoder ` +
      `${grid.name} ${shapeText(grid.shape)} of ${grid.classes}`;
  }
  return ["int32", "int64"].includes(input.dtype) ? null : `its ${input.name} are ${input.dtype}, not int32 or int64`;
}

// Why the prior cannot sample for this decoder, or null. It draws the decoder's grid `generates`
// (in exports older than that key, the decoder's only grid): its first input takes that grid,
// and a conditioned prior (VQ-VAE-2's bottom level) takes the grid `condition_from` as its
// second; it gives logits [batch, ...grid, classes] in raster order.
function mismatch(props, inputs, latents) {
  if (!isPrior(props)) return `it is the ${props.part} of ${props.entry}, not a prior`;
  const generates = props.generates ?? (latents.length === 1 ? latents[0].name : undefined);
  const grid = latents.find((l) => l.name === generates);
  if (!grid) {
    return `it draws ${generates ?? "(no generates in its metadata)"}, which the decoder does not take ` +
      `(it takes ${latents.map((l) => l.name).join(", ")})`;
  }
  const conditionFrom = props.condition_from;
  const condition = conditionFrom === undefined ? undefined : latents.find((l) => l.name === conditionFrom);
  if (conditionFrom !== undefined && !condition) return `it is conditioned on ${conditionFrom}, which the decoder does not take`;
  const wanted = condition ? 2 : 1;
  if (inputs.length !== wanted) {
    const feeds = condition ? `${grid.name} and ${condition.name}` : grid.name;
    return `it takes ${inputs.map((i) => i.name).join(", ")}; the page feeds it ${feeds}`;
  }
  if ((props.order ?? "raster") !== "raster") return `its order is ${props.order}; the page samples in raster order`;
  return gridMismatch(inputs[0], grid) ?? (condition ? gridMismatch(inputs[1], condition) : null);
}

// A macrotask boundary, so the page repaints and takes clicks between prior calls (awaiting a
// wasm run alone settles in microtasks). A message, not setTimeout: background tabs throttle timers.
function nextTask() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

export class Prior {
  // `buffer`: the bytes of an .onnx file; `name`: how messages call it; `decoder`: the Decoder
  // one of whose grids it draws.
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
    const { latents } = decoder.meta;
    const why = mismatch(props, inputs, latents);
    if (why) throw new PageError(`${name} cannot sample codes for the decoder ${decoder.name}: ${why}.\n${EXPORT_HINT}`);
    const session = await loadSession(buffer, name);
    const declared = inputs.map((i) => i.name);
    if (session.inputNames.join() !== declared.join() || !session.outputNames.includes("logits")) {
      throw new PageError(`${name} does not have the prior interface its keras_vae metadata declares, ` +
        `${declared.join(", ")} -> logits (it has ${session.inputNames.join(", ")} -> ${session.outputNames.join(", ")}).`);
    }
    const generates = props.generates ?? latents[0].name;
    const meta = { ...props, generates, conditionFrom: props.condition_from ?? null, input: inputs[0],
      condition: inputs[1] ?? null };
    return new Prior(await runtime(), session, meta, name);
  }

  constructor(ort, session, meta, name) {
    Object.assign(this, { ort, session, meta, name, queue: Promise.resolve() });
  }

  // Codes for n images: Int32Array [n * positions], row b holding image b's grid in raster
  // order. `u`: n * positions uniforms in [0, 1), u[b * positions + i] for position i of image b.
  // `condition`: for a conditioned prior, the n grids it is conditioned on (Int32Array, row b
  // image b's), else null. One prior call per position, on the whole batch: the logits at
  // position i only depend on the codes before i (the causal masks), so the codes still zero at
  // >= i do not matter. `progress(done, positions)` is called after each position. Loops run one
  // after another: a wasm session does not take overlapping runs.
  sample(u, n, condition = null, progress = () => {}) {
    const run = this.queue.then(() => this.loop(u, n, condition, progress));
    this.queue = run.catch(() => {});
    return run;
  }

  async loop(u, n, condition, progress) {
    const { input, condition: conditionInput } = this.meta;
    const { name, shape, dtype, classes } = input;
    const positions = shape.reduce((a, b) => a * b, 1);
    if (u.length !== n * positions) throw new Error(`sample: ${u.length} uniforms for ${n} × ${positions} codes`);
    if ((condition === null) !== (conditionInput === null)) {
      throw new Error(`sample: ${this.name} takes ${conditionInput ? "a" : "no"} condition`);
    }
    const feeds = {}; // the condition stays the same through the loop
    if (conditionInput) feeds[conditionInput.name] = tensor(this.ort, conditionInput.dtype, condition, [n, ...conditionInput.shape]);
    const codes = new Int32Array(n * positions);
    for (let i = 0; i < positions; i++) {
      const { logits } = await this.session.run({ ...feeds, [name]: tensor(this.ort, dtype, codes, [n, ...shape]) });
      if (logits.dims.join() !== [n, ...shape, classes].join()) {
        throw new PageError(`${this.name} returned logits of shape [${logits.dims}], not [${[n, ...shape, classes]}].`);
      }
      for (let b = 0; b < n; b++) {
        const at = b * positions + i;
        codes[at] = inverseCdf(logits.data, at * classes, classes, u[at]);
      }
      progress(i + 1, positions);
      await nextTask();
    }
    return codes;
  }
}
