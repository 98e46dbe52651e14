// Samples of a decoder of codes from its priors: one prior per grid of codes (the one whose
// metadata says it generates that grid), their loops run one after another on one stream of
// seeded uniforms, the way export/onnx/decode.py's prior_feeds runs them, so that Python can
// repeat the page's draws. The loops themselves run in the inference worker (prior-loop.js).
import { PageError } from "./errors.js";
import { sampleCodes } from "./inference.js";

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
  // row (each grid in raster order, grids in the decoder's input order), drawn in the worker by
  // prior-loop.js's sampleCodes (which says which uniforms each loop takes).
  // `progress({grid, done, positions, loop, loops})` after each position.
  sample(seed, n, progress = () => {}) {
    const { latents, latentDim } = this.decoder.meta;
    const loops = this.loops.map(({ session, name, meta }) => ({ session: session.id, name, input: meta.input,
      condition: meta.condition, conditionFrom: meta.conditionFrom, grid: latents.find((l) => l.name === meta.generates) }));
    return sampleCodes({ seed, n, latentDim, loops }, progress);
  }
}
