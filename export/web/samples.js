// The sample grid: N(0, I) latents for a z decoder ("New samples"), or for a decoder of codes,
// codes drawn from its priors with the seed in the box ("Sample"), with a progress line while
// the priors' loops run in the inference worker. Clicking a sample sends it to the explorer.
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

// The sample grid's latent rows: N(0, I) draws for a z decoder; for a decoder of codes, codes
// drawn from its priors (null without them).
async function sampleRows() {
  const { latentDim, codes } = page.decoder.meta;
  if (!codes) return Array.from({ length: SAMPLES }, (_, i) => normals(latentDim, page.seed * 1000 + i).map(round3));
  if (!page.sampler) return null;
  const drawn = Array.from(await priorCodes(page.seed));
  return Array.from({ length: SAMPLES }, (_, i) => drawn.slice(i * latentDim, (i + 1) * latentDim));
}

// Draw the sample grid for page.seed and the picked labels.
export async function drawSamples() {
  const { decoder, seed } = page;
  const { latents, imageShape, codes } = decoder.meta;
  const rows = await sampleRows();
  if (decoder !== page.decoder) return; // another file was opened meanwhile
  if (!rows) {
    $("samples").replaceChildren();
    return;
  }
  const labels = page.labels;
  const images = await decoder.decode(rows, labels);
  if (decoder !== page.decoder) return;
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

// "New samples" (N(0, I) draws of the next seed) and "Sample" (the priors, the seed in the box).
export function wireSamples() {
  $("new-samples").addEventListener("click", () => {
    page.seed += 1;
    drawSamples().catch(showError);
  });
  $("prior-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (page.sampler) sampleWithSeed();
  });
}
