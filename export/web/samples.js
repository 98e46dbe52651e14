// The sample grid: N(0, I) latents for a z decoder ("New samples"), or with its fitted sampler
// opened and chosen ("Samples from"), z drawn by that sampler from the same seed; for a decoder
// of codes, codes drawn from its priors with the seed in the box ("Sample"), with a progress
// line while the priors' loops run in the inference worker. Clicking a sample sends it to the
// explorer.
import { PageError } from "./errors.js";
import { setZ } from "./explorer.js";
import { draw, normals, round3, sized } from "./images.js";
import { $, clearError, finish, page, showError, startTask } from "./page-state.js";

const SAMPLES = 16;
const MAX_SEED = 2 ** 32 - 1; // mulberry32 takes a uint32 seed
let drawing = null; // {sampler, seed, codes: Promise}: one sampling per seed, shared by its callers

// "labels = 3" (one per integer input), or "" for an unconditional decoder.
function labelText(labels) {
  return page.decoder.meta.conditions.map(({ name }) => `${name} = ${labels[name]}`).join(", ");
}

// Codes for the sample grid from the priors with uniforms of seed `seed`: Int32Array
// [n * latentDim]. A label change draws the grid again with the same codes, so the loops run once
// per seed. The progress line counts the positions of each loop.
function priorCodes(seed) {
  const { sampler } = page;
  if (drawing?.sampler !== sampler || drawing.seed !== seed) {
    const started = performance.now();
    $("sample").disabled = true; // one sampling at a time: a second click would only queue behind it
    const codes = sampler.sample(seed, SAMPLES, ({ grid, done, positions, loop, loops }) => {
      const which = loops > 1 ? ` (loop ${loop} of ${loops})` : "";
      $("sample-status").textContent = `sampling ${grid}${which}: position ${done} of ${positions}…`;
    }).then((result) => {
      $("sample-status").textContent = `${SAMPLES} samples, seed ${seed}: ${sampler.calls} prior calls in ` +
        `${((performance.now() - started) / 1000).toFixed(1)} s`;
      return result;
    }).catch((error) => {
      $("sample-status").textContent = "";
      if (drawing?.codes === codes) drawing = null; // the same seed may be tried again
      throw error;
    }).finally(() => { $("sample").disabled = false; });
    drawing = { sampler, seed, codes };
  }
  return drawing.codes;
}

// The sample grid's latent rows: for a z decoder, N(0, I) draws (sample i: normals of seed
// seed * 1000 + i, to 3 decimals), or the sampler's z (z-sampler.js: from the same normals and a
// uniform each); for a decoder of codes, codes drawn from its priors (null without them).
async function sampleRows() {
  const { latentDim, codes } = page.decoder.meta;
  if (!codes && page.samplesFrom !== "normal") return page.zSampler.sample(page.seed, SAMPLES);
  if (!codes) return Array.from({ length: SAMPLES }, (_, i) => normals(latentDim, page.seed * 1000 + i).map(round3));
  if (!page.sampler) return null;
  const drawn = Array.from(await priorCodes(page.seed));
  return Array.from({ length: SAMPLES }, (_, i) => drawn.slice(i * latentDim, (i + 1) * latentDim));
}

// Draw the sample grid for page.seed, page.samplesFrom and the picked labels. #samples says what
// it shows once drawn (data-from: "normal", "gmm" or "codes"; data-seed).
export async function drawSamples() {
  const { decoder, seed, samplesFrom } = page;
  const { latents, imageShape, codes } = decoder.meta;
  // Another file, or the other choice of "Samples from", meanwhile: the later draw shows, not this one.
  const overtaken = () => decoder !== page.decoder || samplesFrom !== page.samplesFrom;
  const rows = await sampleRows();
  if (overtaken()) return;
  if (!rows) {
    $("samples").replaceChildren();
    return;
  }
  const labels = page.labels;
  const images = await decoder.decode(rows, labels);
  if (overtaken()) return;
  if (codes) page.samples = { seed, codes: rows.flat(), images };
  const condition = labelText(labels);
  $("samples").replaceChildren(...rows.map((row, i) => {
    const canvas = sized(document.createElement("canvas"), imageShape);
    draw(canvas, images, i, imageShape);
    const values = latents.map(({ name, offset, size }) => `${name} = ${row.slice(offset, offset + size).join(", ")}`);
    canvas.title = [...values, ...(condition ? [condition] : [])].join(" | ");
    canvas.addEventListener("click", () => setZ(row));
    return canvas;
  }));
  $("samples-label").textContent = condition ? `, ${condition}` : "";
  Object.assign($("samples").dataset, { from: codes ? "codes" : samplesFrom, seed });
}

// The title and hint of a z decoder's sample grid: N(0, I), or its fitted sampler's z.
export function describeSamples() {
  const sampler = page.samplesFrom !== "normal" ? page.zSampler : null;
  $("samples-title").textContent = sampler ? `Samples, z ~ ${sampler.label}` : "Samples, z ~ N(0, I)";
  $("samples-hint").textContent = sampler
    ? `z drawn by ${sampler.name}, the ${sampler.kind.toUpperCase()} fitted to the training codes, from the seed. ` +
      "Click a sample to explore around it."
    : "Click a sample to explore around it.";
}

// "Samples from": N(0, I) or the fitted sampler; the same seed drawn again from the other.
async function setSamplesFrom(from) {
  if (!page.decoder || (from !== "normal" && !page.zSampler)) return;
  page.samplesFrom = from;
  describeSamples();
  await finish(startTask(), async () => {
    await drawSamples();
    clearError();
  });
}

// "Sample": codes from the priors with the seed in the box, decoded.
async function sampleWithSeed() {
  const text = $("seed").value.trim();
  if (!/^\d+$/.test(text) || Number(text) > MAX_SEED) {
    $("seed").setAttribute("aria-invalid", "true");
    showError(new PageError(`The seed "${text}" is not an integer in 0..${MAX_SEED}.`));
    return;
  }
  $("seed").removeAttribute("aria-invalid");
  page.seed = Number(text);
  await finish(startTask(), async () => {
    await drawSamples();
    clearError();
  });
}

// "New samples" (N(0, I) or sampler draws of the next seed), "Samples from" (N(0, I) or the
// sampler) and "Sample" (the priors, the seed in the box).
export function wireSamples() {
  $("samples-from").addEventListener("change", (event) => setSamplesFrom(event.target.value));
  $("new-samples").addEventListener("click", () => {
    page.seed += 1;
    drawSamples().catch(showError);
  });
  $("prior-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (page.sampler) sampleWithSeed();
  });
}
