// The page: a grid of samples and a latent explorer (a draggable point on the plane for a 2-D
// latent space, sliders for the first dimensions of a larger one), for any keras_vae decoder;
// for a conditional one (integer "index" inputs in its metadata, e.g. labels), a label picker.
// For a decoder of grids of codes (a VQ-VAE's one, VQ-VAE-2's top and bottom) with their priors,
// the samples are codes drawn from the priors position by position (seeded), and the explorer
// shows and decodes typed codes.
import { Decoder } from "./decoder.js";
import { PageError } from "./errors.js";
import { clamp, draw, normals, round3, sized } from "./images.js";
import { readMetadata } from "./onnx-metadata.js";
import { isPrior, Prior } from "./prior.js";
import { Sampler } from "./sampler.js";

const RANGE = 3; // plane and sliders span [-3, 3]: nearly all of N(0, 1)
const SAMPLES = 16;
const MAX_SLIDERS = 8;
const MANIFOLD = 10; // decoded tiles per side behind the 2-D plane
const MAX_SEED = 2 ** 32 - 1; // mulberry32 takes a uint32 seed
const $ = (id) => document.getElementById(id);

// Exposed as window.kerasVae for scripts and the end-to-end test. labels: {input name: value}
// for each integer input of the decoder ({} if it has none); label: the first one's value (null
// if none), and setting it picks that label as the picker does. z: the explorer's latent row (for
// a decoder of codes, its codes: each grid in raster order, grids in input order). sampler: the
// Sampler of the loaded priors, or null. samples: for a decoder of codes, the sample grid's
// {seed, codes: [n * latentDim] (image by image, as z), images: Float32Array [n, H, W, C]} once
// drawn, else null.
const page = { decoder: null, sampler: null, z: [], labels: {}, output: null, seed: 1, samples: null, pending: null, rendering: false };
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
let generation = 0; // of the latest open, label change or sampling: only it may mark the page ready
let drawing = null; // {sampler, seed, codes: Promise}: one sampling per seed, shared by its callers

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

async function drawSamples() {
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

// Nothing usable was opened: the message, and no blank canvases.
function openFailed(error) {
  page.decoder = null;
  page.sampler = null;
  page.samples = null;
  page.labels = {};
  $("panels").hidden = true;
  $("conditions").hidden = true;
  $("info").textContent = "No decoder loaded.";
  document.body.dataset.state = "error";
  showError(error);
}

// The explorer and the sample grid for the decoder's latent input: z (plane or sliders, N(0, I)
// samples), or grids of codes (typed codes; samples from the priors, if there are).
function layOut(m) {
  const plane = !m.codes && m.latentDim === 2;
  $("plane").hidden = !plane;
  $("sliders").hidden = plane || m.codes;
  let sliders = 0;
  if (plane || m.codes) $("sliders").replaceChildren(); // setZ moves every slider there is
  else sliders = buildSliders(m.latentDim);
  $("z-label").textContent = `${m.latentName} =`;
  if (m.codes) {
    const [{ shape, classes }] = m.latents;
    const codes = m.latents.length === 1 ? `The ${shape.join("×")} codes of the image, row by row (each 0..${classes - 1})`
      : "The codes of the image, row by row: " +
        m.latents.map((l) => `${l.name} ${l.shape.join("×")} (each 0..${l.classes - 1})`).join(", then ");
    $("hint").textContent = `${codes}: click a sample to see its codes, or type codes and press Enter.`;
  } else {
    $("hint").textContent = plane ? "Drag the point over the latent plane (the background is the decoded plane)."
      : `Sliders move the first ${sliders} of ${m.latentDim} latent dimensions; type any z below.`;
  }
  const loops = page.sampler?.loops ?? [];
  $("samples-title").textContent = m.codes ? `Samples from the prior${loops.length > 1 ? "s" : ""}` : "Samples, z ~ N(0, I)";
  const given = ({ meta }) => meta.generates + (meta.conditionFrom ? ` given ${meta.conditionFrom}` : "");
  const order = loops.length > 1 ? `: ${loops.map(given).join(", then ")}` : "";
  const priorHint = page.sampler
    ? `Codes drawn from the prior${loops.length > 1 ? "s" : ""} position by position (${m.latentDim} prior calls, ` +
      `uniforms from the seed${order}), decoded. Click a sample to see its codes.`
    : "Sampling needs this decoder's priors: open the decoder and its prior .onnx files together, or serve a run " +
      "that has them (python -m keras_vae.zoo serve-web RUN_DIR). Typed codes still decode.";
  $("samples-hint").textContent = m.codes ? priorHint : "Click a sample to explore around it.";
  $("new-samples").hidden = m.codes;
  $("prior-form").hidden = !page.sampler;
  $("seed").value = String(page.seed);
  $("seed").removeAttribute("aria-invalid");
  $("sample-status").textContent = "";
  return plane;
}

// Open a decoder ({buffer, name}) and, for a decoder of codes, its priors: `findPriors(decoder)`
// gives the prior files ([{buffer, name}], maybe none).
async function open(file, findPriors) {
  const mine = ++generation;
  document.body.dataset.state = "loading";
  $("info").textContent = `Loading ${file.name}…`;
  clearError();
  try {
    const decoder = await Decoder.load(file.buffer, file.name);
    const priorFiles = await findPriors(decoder);
    if (priorFiles.length && !decoder.meta.codes) {
      throw new PageError(`${priorFiles[0].name} is a prior over codes, but the decoder ${file.name} takes ` +
        `${decoder.meta.latentName}, not codes: open the decoder that goes with the prior.`);
    }
    const priors = [];
    for (const { buffer, name } of priorFiles) priors.push(await Prior.load(buffer, name, decoder));
    page.sampler = priors.length ? new Sampler(decoder, priors) : null;
    page.decoder = decoder;
  } catch (error) {
    openFailed(error);
    return;
  }
  const m = page.decoder.meta;
  const [height, width, channels] = m.imageShape;
  const conditioned = m.conditions.map(({ name, classes }) => ` + ${name} (${classes} classes)`).join("");
  const loops = page.sampler?.loops ?? [];
  const priors = loops.length ? ` + prior${loops.length > 1 ? "s" : ""} v${loops.map((p) => p.meta.version || "?").join(", v")}` : " (no prior)";
  const latent = !m.codes ? `latent ${m.latentDim}` : `codes ${m.latents.map((l) => `${l.shape.join("×")} of ${l.classes}`).join(" + ")}${priors}`;
  $("info").textContent = `${m.entry || "?"} decoder v${m.version || "?"} (${m.class || "?"}), ` +
    `${latent}${conditioned}, images ${height}×${width}×${channels}, trained on ${m.dataset || "?"}, ` +
    `keras_vae ${m.keras_vae_version} · ${[file, ...loops].map((f) => f.name).join(" + ")}`;
  page.seed = 1;
  page.samples = null;
  const plane = layOut(m);
  page.labels = Object.fromEntries(m.conditions.map(({ name }) => [name, 0]));
  buildPickers(m.conditions);
  $("panels").hidden = false;
  try {
    await Promise.all([drawSamples(), plane ? drawManifold() : null]);
    // The explorer starts at z = 0, or at the first sample's codes (codes 0 are not a typical image).
    setZ(page.samples ? page.samples.codes.slice(0, m.latentDim) : new Array(m.latentDim).fill(0));
    if (mine === generation) document.body.dataset.state = "ready";
  } catch (error) {
    if (mine === generation) document.body.dataset.state = "error";
    showError(error);
  }
}

// The response to `url`; with `missingOk`, null for a 404 (no priors served).
async function fetchUrl(url, missingOk = false) {
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    response = { ok: false, status: 0, statusText: error.message };
  }
  if (missingOk && response.status === 404) return null;
  if (!response.ok) {
    throw new PageError(`Could not load ${url}: HTTP ${response.status} ${response.statusText}.\n` +
      "Serve the page with `python -m keras_vae.zoo serve-web RUN_DIR_OR_ENTRY`, " +
      "pass ?model=URL, or open a decoder .onnx file with the button.");
  }
  return response;
}

// {buffer, name} of the file at `url`.
async function fetchFile(url) {
  const name = decodeURIComponent(url.split("/").pop().split("?")[0]) || url;
  return { buffer: await (await fetchUrl(url)).arrayBuffer(), name };
}

// The decoder at `url`; for a decoder of codes, the priors at `priorUrls` too, or for null, the
// ones serve-web lists in priors.json (none on a server without that file).
async function openUrl(url, priorUrls) {
  let file;
  try {
    file = await fetchFile(url);
  } catch (error) {
    openFailed(error);
    return;
  }
  await open(file, async (decoder) => {
    if (!decoder.meta.codes) return [];
    const urls = priorUrls ?? (await (await fetchUrl("priors.json", true))?.json()) ?? [];
    return Promise.all(urls.map(fetchFile));
  });
}

// Files chosen with the button: one decoder, and for a decoder of codes, optionally its priors
// (told apart by their metadata, so the order and the names do not matter).
async function openFiles(files) {
  const opened = await Promise.all(files.map(async (file) => ({ buffer: await file.arrayBuffer(), name: file.name })));
  const priorFile = ({ buffer }) => {
    try {
      return isPrior(readMetadata(buffer));
    } catch {
      return false; // Decoder.load says what is wrong with it
    }
  };
  const priors = opened.filter(priorFile);
  const others = opened.filter((file) => !priors.includes(file));
  if (others.length === 1) {
    await open(others[0], async () => priors);
    return;
  }
  const names = (list) => list.map((f) => f.name).join(", ");
  ++generation;
  openFailed(new PageError(others.length === 0
    ? `${names(priors)} ${priors.length === 1 ? "is a prior: open it together with its" : "are priors: open them together with their"} ` +
      "decoder (choose the files together)."
    : `Open one decoder .onnx (and, for a decoder of codes, its priors), not ${names(opened)}.`));
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
  const mine = ++generation;
  document.body.dataset.state = "loading";
  try {
    await drawSamples();
    clearError();
    if (mine === generation) document.body.dataset.state = "ready";
  } catch (error) {
    if (mine === generation) document.body.dataset.state = "error";
    showError(error);
  }
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
$("prior-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (page.sampler) sampleWithSeed();
});
$("file").addEventListener("change", async (event) => {
  const files = [...event.target.files];
  if (!files.length) return;
  document.body.dataset.state = "loading"; // at once, so no one reads the previous file's state
  await openFiles(files);
  event.target.value = ""; // opening the same file again still fires "change"
});

// ?model=URL picks another decoder, ?prior=URL (one per grid of codes) its priors; by default
// the served decoder and the priors serve-web lists (not for another decoder: they are not its).
const query = new URLSearchParams(location.search);
const priorUrls = query.getAll("prior");
openUrl(query.get("model") || "model.onnx", priorUrls.length || query.has("model") ? priorUrls : null);
