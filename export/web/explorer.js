// The latent explorer: the decoded image of one latent row z, set by a point dragged over the
// latent plane (a 2-D latent space, drawn as a grid of decoded tiles behind it), by sliders for
// the first dimensions (a larger one), by a sample, or typed into the `z =` box (also codes).
import { PageError } from "./errors.js";
import { clamp, draw, round3, sized } from "./images.js";
import { $, clearError, page, showError } from "./page-state.js";

const RANGE = 3; // plane and sliders span [-3, 3]: nearly all of N(0, 1)
const MAX_SLIDERS = 8;
const MANIFOLD = 10; // decoded tiles per side behind the 2-D plane

// Set the explorer's z (from the text box, a drag, a slider or a sample) and decode it.
export function setZ(z, fromText = false) {
  page.z = z;
  if (!fromText) $("z").value = z.join(", ");
  $("z").removeAttribute("aria-invalid");
  if (z.length === 2) {
    $("marker").style.left = `${((clamp(z[0], -RANGE, RANGE) + RANGE) / (2 * RANGE)) * 100}%`;
    $("marker").style.top = `${((RANGE - clamp(z[1], -RANGE, RANGE)) / (2 * RANGE)) * 100}%`;
  }
  $("sliders").querySelectorAll("input").forEach((slider, i) => {
    slider.value = z[i];
    slider.nextElementSibling.textContent = z[i].toFixed(2);
  });
  page.pending = z;
  render();
}

// Decode the latest z only: drags outrun the decoder, so intermediate points are skipped.
async function render() {
  if (page.rendering) return;
  page.rendering = true;
  try {
    while (page.pending) {
      const z = page.pending;
      page.pending = null;
      page.output = await page.decoder.decode([z], page.labels);
      draw(sized($("view"), page.decoder.meta.imageShape), page.output, 0, page.decoder.meta.imageShape);
      $("view").classList.remove("stale");
      clearError();
      document.body.dataset.decoded = Number(document.body.dataset.decoded) + 1;
    }
  } catch (error) {
    page.pending = null;
    $("view").classList.add("stale");
    showError(error);
  } finally {
    page.rendering = false;
  }
}

function zFromText() {
  const tokens = $("z").value.split(/[\s,]+/).filter(Boolean);
  const bad = tokens.find((t) => !Number.isFinite(Number(t)));
  try {
    if (bad !== undefined) throw new PageError(`"${bad}" in ${page.decoder.meta.latentName} is not a number.`);
    const row = tokens.map(Number);
    page.decoder.check(row);
    setZ(row, true);
  } catch (error) {
    $("z").setAttribute("aria-invalid", "true");
    $("view").classList.add("stale");
    showError(error);
  }
}

// The decoded plane behind the point of a 2-D latent space: MANIFOLD x MANIFOLD tiles.
export async function drawManifold() {
  const { imageShape } = page.decoder.meta;
  const [height, width] = imageShape;
  const at = (i) => round3(-RANGE + ((i + 0.5) * 2 * RANGE) / MANIFOLD); // tile centres
  const rows = [];
  for (let r = 0; r < MANIFOLD; r++) for (let c = 0; c < MANIFOLD; c++) rows.push([at(c), at(MANIFOLD - 1 - r)]);
  const images = await page.decoder.decode(rows, page.labels);
  const canvas = sized($("manifold"), [height * MANIFOLD, width * MANIFOLD]);
  rows.forEach((_, i) => draw(canvas, images, i, imageShape, (i % MANIFOLD) * width, Math.floor(i / MANIFOLD) * height));
}

// Sliders for the first dimensions of z; returns how many.
export function buildSliders(latentDim) {
  const count = Math.min(latentDim, MAX_SLIDERS);
  $("sliders").replaceChildren(...Array.from({ length: count }, (_, i) => {
    const label = document.createElement("label");
    label.innerHTML = `<span>z[${i}]</span><input type="range" min="${-RANGE}" max="${RANGE}" step="0.01" value="0"><output>0.00</output>`;
    label.querySelector("input").addEventListener("input", (event) => {
      const z = [...page.z];
      z[i] = event.target.valueAsNumber;
      setZ(z);
    });
    return label;
  }));
  return count;
}

function dragTo(event) {
  const box = $("plane").getBoundingClientRect();
  const fx = clamp((event.clientX - box.left) / box.width, 0, 1);
  const fy = clamp((event.clientY - box.top) / box.height, 0, 1);
  setZ([round3(-RANGE + 2 * RANGE * fx), round3(RANGE - 2 * RANGE * fy)]);
}

// The plane's pointer and arrow keys, and the z box.
export function wireExplorer() {
  $("plane").addEventListener("pointerdown", (event) => {
    $("plane").setPointerCapture(event.pointerId);
    dragTo(event);
  });
  $("plane").addEventListener("pointermove", (event) => {
    if ($("plane").hasPointerCapture(event.pointerId)) dragTo(event);
  });
  $("plane").addEventListener("keydown", (event) => {
    const step = { ArrowLeft: [-0.1, 0], ArrowRight: [0.1, 0], ArrowUp: [0, 0.1], ArrowDown: [0, -0.1] }[event.key];
    if (!step) return;
    event.preventDefault();
    setZ(page.z.map((v, i) => round3(clamp(v + step[i], -RANGE, RANGE))));
  });
  $("z-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (page.decoder) zFromText();
  });
}
