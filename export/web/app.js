// The page: a grid of samples and a latent explorer (a draggable point on the plane for a 2-D
// latent space, sliders for the first dimensions of a larger one), for any keras_vae decoder;
// for a conditional one (integer "index" inputs in its metadata, e.g. labels), a label picker.
import { Decoder, PageError } from "./decoder.js";
import { clamp, draw, normals, round3, sized } from "./images.js";

const RANGE = 3; // plane and sliders span [-3, 3]: nearly all of N(0, 1)
const SAMPLES = 16;
const MAX_SLIDERS = 8;
const MANIFOLD = 10; // decoded tiles per side behind the 2-D plane
const $ = (id) => document.getElementById(id);

// Exposed as window.kerasVae for scripts and the end-to-end test. labels: {input name: value}
// for each integer input of the decoder ({} if it has none); label: the first one's value (null
// if none), and setting it picks that label as the picker does.
const page = { decoder: null, z: [], labels: {}, output: null, seed: 1, pending: null, rendering: false };
Object.defineProperty(page, "label", {
  enumerable: true,
  get: () => (page.decoder?.meta.conditions.length ? page.labels[page.decoder.meta.conditions[0].name] : null),
  set: (value) => {
    const [first] = page.decoder?.meta.conditions || [];
    if (first) setLabels({ [first.name]: value });
    else showError(new PageError("This decoder takes no label."));
  },
});
window.kerasVae = page;
let generation = 0; // of the latest open or label change: only it may mark the page ready

function showError(error) {
  const message = error instanceof PageError ? error.message : `Unexpected error: ${error.message || error}`;
  $("error").textContent = message;
  $("error").hidden = false;
  if (!(error instanceof PageError)) console.error(error);
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

// Set the explorer's z (from the text box, a drag, a slider or a sample) and decode it.
function setZ(z, fromText = false) {
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
    if (bad !== undefined) throw new PageError(`"${bad}" in z is not a number.`);
    page.decoder.check(tokens);
    setZ(tokens.map(Number), true);
  } catch (error) {
    $("z").setAttribute("aria-invalid", "true");
    $("view").classList.add("stale");
    showError(error);
  }
}

// "labels = 3" (one per integer input), or "" for an unconditional decoder.
function labelText(labels) {
  return page.decoder.meta.conditions.map(({ name }) => `${name} = ${labels[name]}`).join(", ");
}

async function drawSamples() {
  const { latentDim, imageShape } = page.decoder.meta;
  const rows = Array.from({ length: SAMPLES }, (_, i) => normals(latentDim, page.seed * 1000 + i).map(round3));
  const labels = page.labels;
  const images = await page.decoder.decode(rows, labels);
  const condition = labelText(labels);
  $("samples").replaceChildren(...rows.map((row, i) => {
    const canvas = sized(document.createElement("canvas"), imageShape);
    draw(canvas, images, i, imageShape);
    canvas.title = `z = ${row.join(", ")}${condition ? ` | ${condition}` : ""}`;
    canvas.addEventListener("click", () => setZ(row));
    return canvas;
  }));
  $("samples-label").textContent = condition ? `, ${condition}` : "";
}

async function drawManifold() {
  const { imageShape } = page.decoder.meta;
  const [height, width] = imageShape;
  const at = (i) => round3(-RANGE + ((i + 0.5) * 2 * RANGE) / MANIFOLD); // tile centres
  const rows = [];
  for (let r = 0; r < MANIFOLD; r++) for (let c = 0; c < MANIFOLD; c++) rows.push([at(c), at(MANIFOLD - 1 - r)]);
  const images = await page.decoder.decode(rows, page.labels);
  const canvas = sized($("manifold"), [height * MANIFOLD, width * MANIFOLD]);
  rows.forEach((_, i) => draw(canvas, images, i, imageShape, (i % MANIFOLD) * width, Math.floor(i / MANIFOLD) * height));
}

function buildSliders(latentDim) {
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

// One picker (a <select>, values 0..classes-1) per integer input; the first has id="label".
function buildPickers(conditions) {
  $("conditions").replaceChildren(...conditions.map(({ name, classes }, i) => {
    const id = i === 0 ? "label" : `label-${name}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = `${name} = `;
    const select = document.createElement("select");
    select.id = id;
    select.dataset.input = name;
    select.append(...Array.from({ length: classes }, (_, value) => new Option(String(value), String(value))));
    select.addEventListener("change", () => setLabels({ [name]: Number(select.value) }));
    return [label, select, " "];
  }).flat());
  if (conditions.length) {
    const hint = document.createElement("span");
    hint.className = "hint";
    hint.textContent = `(the explorer, the plane and the samples are decoded for ${conditions.length === 1 ? "this label" : "these labels"})`;
    $("conditions").append(hint);
  }
  $("conditions").hidden = !conditions.length;
}

// Pick labels ({input name: value}) and decode the samples, the plane and the explorer again.
async function setLabels(changes) {
  if (!page.decoder) return;
  const labels = { ...page.labels, ...changes };
  try {
    page.decoder.checkLabels(labels);
  } catch (error) {
    showError(error);
    return;
  }
  page.labels = labels;
  $("conditions").querySelectorAll("select").forEach((select) => { select.value = String(labels[select.dataset.input]); });
  const mine = ++generation;
  document.body.dataset.state = "loading";
  try {
    setZ(page.z);
    await Promise.all([drawSamples(), page.decoder.meta.latentDim === 2 ? drawManifold() : null]);
    if (mine === generation) document.body.dataset.state = "ready";
  } catch (error) {
    if (mine === generation) document.body.dataset.state = "error";
    showError(error);
  }
}

async function open(buffer, name) {
  const mine = ++generation;
  document.body.dataset.state = "loading";
  $("info").textContent = `Loading ${name}…`;
  clearError();
  try {
    page.decoder = await Decoder.load(buffer, name);
  } catch (error) {
    page.decoder = null;
    page.labels = {};
    $("panels").hidden = true; // no blank canvases: the error says what is wrong
    $("conditions").hidden = true;
    $("info").textContent = "No decoder loaded.";
    document.body.dataset.state = "error";
    showError(error);
    return;
  }
  const m = page.decoder.meta;
  const [height, width, channels] = m.imageShape;
  const conditioned = m.conditions.map(({ name, classes }) => ` + ${name} (${classes} classes)`).join("");
  $("info").textContent = `${m.entry || "?"} decoder v${m.version || "?"} (${m.class || "?"}), ` +
    `latent ${m.latentDim}${conditioned}, images ${height}×${width}×${channels}, trained on ${m.dataset || "?"}, ` +
    `keras_vae ${m.keras_vae_version} · ${name}`;
  const plane = m.latentDim === 2;
  $("plane").hidden = !plane;
  $("sliders").hidden = plane;
  const sliders = plane ? 0 : buildSliders(m.latentDim);
  $("hint").textContent = plane ? "Drag the point over the latent plane (the background is the decoded plane)."
    : `Sliders move the first ${sliders} of ${m.latentDim} latent dimensions; type any z below.`;
  page.labels = Object.fromEntries(m.conditions.map(({ name }) => [name, 0]));
  buildPickers(m.conditions);
  $("panels").hidden = false;
  page.seed = 1;
  try {
    await Promise.all([drawSamples(), plane ? drawManifold() : null]);
    setZ(new Array(m.latentDim).fill(0));
    if (mine === generation) document.body.dataset.state = "ready";
  } catch (error) {
    if (mine === generation) document.body.dataset.state = "error";
    showError(error);
  }
}

async function openUrl(url) {
  const name = decodeURIComponent(url.split("/").pop().split("?")[0]) || url;
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    response = { ok: false, status: 0, statusText: error.message };
  }
  if (!response.ok) {
    document.body.dataset.state = "error";
    $("info").textContent = "No decoder loaded.";
    showError(new PageError(`Could not load ${url}: HTTP ${response.status} ${response.statusText}.\n` +
      "Serve the page with `python -m keras_vae.zoo serve-web RUN_DIR_OR_ENTRY`, " +
      "pass ?model=URL, or open a decoder .onnx file with the button."));
    return;
  }
  await open(await response.arrayBuffer(), name);
}

function dragTo(event) {
  const box = $("plane").getBoundingClientRect();
  const fx = clamp((event.clientX - box.left) / box.width, 0, 1);
  const fy = clamp((event.clientY - box.top) / box.height, 0, 1);
  setZ([round3(-RANGE + 2 * RANGE * fx), round3(RANGE - 2 * RANGE * fy)]);
}

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
$("new-samples").addEventListener("click", () => {
  page.seed += 1;
  drawSamples().catch(showError);
});
$("file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  document.body.dataset.state = "loading"; // at once, so no one reads the previous file's state
  await open(await file.arrayBuffer(), file.name);
  event.target.value = ""; // opening the same file again still fires "change"
});

openUrl(new URLSearchParams(location.search).get("model") || "model.onnx");
