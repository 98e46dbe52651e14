// The priors' autoregressive loops, run in the inference worker: one prior call per position,
// in raster order, on the whole batch, with the sampling rule the export declares; the loops
// take one stream of seeded uniforms in the order export/onnx/decode.py's prior_feeds uses, so
// that Python can repeat the page's draws.
import { PageError } from "./errors.js";
import { uniforms } from "./images.js";

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

// A macrotask boundary between prior calls, so the worker takes the requests that came
// meanwhile (the explorer's decodes) instead of holding them until the loops end (awaiting a
// wasm run alone settles in microtasks). A message, not setTimeout: background tabs throttle timers.
function nextTask() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

// One prior's loop: codes for n images, Int32Array [n * positions], row b holding image b's grid
// in raster order. `run(feeds)` runs the prior once. `u`: n * positions uniforms in [0, 1),
// u[b * positions + i] for position i of image b. `condition`: for a conditioned prior, the n
// grids it is conditioned on (Int32Array, row b image b's), else null. The logits at position i
// depend only on the codes before i (the causal masks), so the codes still zero at >= i do not
// matter. `progress(done)` after each position.
async function priorLoop(run, { name: priorName, input, condition: conditionInput }, u, n, condition, progress) {
  const { name, shape, dtype, classes } = input;
  const positions = shape.reduce((a, b) => a * b, 1);
  if (u.length !== n * positions) throw new Error(`sample: ${u.length} uniforms for ${n} × ${positions} codes`);
  if ((condition === null) !== (conditionInput === null)) {
    throw new Error(`sample: ${priorName} takes ${conditionInput ? "a" : "no"} condition`);
  }
  const codes = new Int32Array(n * positions);
  const feeds = { [name]: { dtype, data: codes, dims: [n, ...shape] } }; // each run reads the codes drawn so far
  if (conditionInput) feeds[conditionInput.name] = { dtype: conditionInput.dtype, data: condition, dims: [n, ...conditionInput.shape] };
  for (let i = 0; i < positions; i++) {
    const { logits } = await run(feeds);
    if (logits.dims.join() !== [n, ...shape, classes].join()) {
      throw new PageError(`${priorName} returned logits of shape [${logits.dims}], not [${[n, ...shape, classes]}].`);
    }
    for (let b = 0; b < n; b++) {
      const at = b * positions + i;
      codes[at] = inverseCdf(logits.data, at * classes, classes, u[at]);
    }
    progress(i + 1);
    await nextTask();
  }
  return codes;
}

// Codes for n images from `seed`: Int32Array [n * latentDim], row b holding image b's latent row
// (each grid in raster order, at its offset). `loops`: the priors in the order their loops run
// (sampler.js), each {session, name, input, condition, conditionFrom, grid: {name, offset, size}}.
// Loop k takes the next n * size uniforms of uniforms(n * latentDim, seed): u[b * size + i] for
// position i of image b. `runLoop(session, loop)` runs loop(run) on that prior's session.
// `progress({grid, done, positions, loop, loops})` after each position.
export async function sampleCodes({ seed, n, latentDim, loops }, runLoop, progress) {
  const u = uniforms(n * latentDim, seed);
  const rows = new Int32Array(n * latentDim);
  const drawn = {};
  let used = 0;
  for (const [k, prior] of loops.entries()) {
    const { name, offset, size } = prior.grid;
    const report = (done) => progress({ grid: name, done, positions: size, loop: k + 1, loops: loops.length });
    const condition = prior.conditionFrom === null ? null : drawn[prior.conditionFrom];
    const slice = u.subarray(used, used + n * size);
    drawn[name] = await runLoop(prior.session, (run) => priorLoop(run, prior, slice, n, condition, report));
    used += n * size;
    for (let b = 0; b < n; b++) rows.set(drawn[name].subarray(b * size, (b + 1) * size), b * latentDim + offset);
  }
  return rows;
}
