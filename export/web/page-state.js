// What the page's modules share: the state exposed as window.kerasVae (app.js), the error line,
// and which task (an open, a label change, a sampling) may mark the page ready.
import { PageError } from "./errors.js";

export const $ = (id) => document.getElementById(id);

// Exposed as window.kerasVae for scripts and the end-to-end test. labels: {input name: value}
// for each integer input of the decoder ({} if it has none); label (app.js): the first one's
// value. z: the explorer's latent row (for a decoder of codes, its codes: each grid in raster
// order, grids in input order). sampler: the Sampler of the loaded priors, or null. zSampler:
// the ZSampler of a z decoder's fitted sampler (z-sampler.js), or null; samplesFrom: what a z
// decoder's sample grid draws z from, "normal" (N(0, I)) or the sampler's kind ("gmm").
// samples: for a decoder of codes, the sample grid's {seed, codes: [n * latentDim] (image by
// image, as z), images: Float32Array [n, H, W, C]} once drawn, else null. pending and
// rendering: the explorer's decoding (explorer.js).
export const page = {
  decoder: null, sampler: null, zSampler: null, samplesFrom: "normal", z: [], labels: {}, output: null, seed: 1, samples: null,
  pending: null, rendering: false,
};

export function showError(error) {
  const message = error instanceof PageError ? error.message : `Unexpected error: ${error.message || error}`;
  $("error").textContent = message;
  $("error").hidden = false;
  if (!(error instanceof PageError)) console.error(error);
}

export function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

let generation = 0; // of the latest task: only it may mark the page ready

// A new task: the page is "loading" until the latest task ends. Returns its number for finish().
export function startTask() {
  document.body.dataset.state = "loading";
  return ++generation;
}

// Runs `work` (async) for the task `mine`: the page is then "ready", or "error" with the message;
// a task that a later one overtook leaves the state to it.
export async function finish(mine, work) {
  try {
    await work();
    if (mine === generation) document.body.dataset.state = "ready";
  } catch (error) {
    if (mine === generation) document.body.dataset.state = "error";
    showError(error);
  }
}
