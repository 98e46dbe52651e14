// Samples of a decoder of codes from its priors: one prior per grid of codes (the one whose
// metadata says it generates that grid), their loops run one after another on one stream of
// seeded uniforms, the way export/onnx/decode.py's prior_feeds runs them, so that Python can
// repeat the page's draws.
import { PageError } from "./decoder.js";
import { uniforms } from "./images.js";

// The priors in the order their loops run: the decoder's input order, except that a prior waits
// for the grid it is conditioned on (decode.py's loop_order). Every grid needs its one prior.
function loopOrder(decoder, priors) {
  const pending = decoder.meta.latents.map(({ name }) => {
    const found = priors.filter((prior) => prior.meta.generates === name);
    if (found.length !== 1) {
      throw new PageError(found.length
        ? `${found.map((p) => p.name).join(" and ")} both draw ${name}: open one prior per grid of codes.`
        : `No prior draws ${name} of the decoder ${decoder.name}: open every prior of the model together with it ` +
          `(it takes ${decoder.meta.latentName}).`);
    }
    return found[0];
  });
  const order = [];
  while (pending.length) {
    const drawn = order.map((prior) => prior.meta.generates);
    const next = pending.find(({ meta }) => meta.conditionFrom === null || drawn.includes(meta.conditionFrom));
    if (!next) {
      throw new PageError(`${pending[0].name} is conditioned on ${pending[0].meta.conditionFrom}, which no loop draws before it.`);
    }
    order.push(next);
    pending.splice(pending.indexOf(next), 1);
  }
  return order;
}

export class Sampler {
  // `decoder`: a Decoder of codes; `priors`: a Prior for each of its grids, in any order.
  constructor(decoder, priors) {
    Object.assign(this, { decoder, loops: loopOrder(decoder, priors) });
  }

  // Prior calls per sampling: one per position of every grid.
  get calls() {
    return this.decoder.meta.latentDim;
  }

  // Codes for n images from `seed`: Int32Array [n * latentDim], row b holding image b's latent
  // row (each grid in raster order, grids in the decoder's input order). Loop k takes the next
  // n * positions uniforms of uniforms(n * latentDim, seed): u[b * positions + i] for position i
  // of image b. `progress({grid, done, positions, loop, loops})` after each position.
  async sample(seed, n, progress = () => {}) {
    const { latents, latentDim } = this.decoder.meta;
    const u = uniforms(n * latentDim, seed);
    const rows = new Int32Array(n * latentDim);
    const drawn = {};
    let used = 0;
    for (const [k, prior] of this.loops.entries()) {
      const { name, offset, size } = latents.find((l) => l.name === prior.meta.generates);
      const report = (done) => progress({ grid: name, done, positions: size, loop: k + 1, loops: this.loops.length });
      drawn[name] = await prior.sample(u.subarray(used, used + n * size), n, drawn[prior.meta.conditionFrom] ?? null, report);
      used += n * size;
      for (let b = 0; b < n; b++) rows.set(drawn[name].subarray(b * size, (b + 1) * size), b * latentDim + offset);
    }
    return rows;
  }
}
