// Opening a decoder (and, for a decoder of codes, its priors; for a decoder of z, maybe its
// fitted sampler): from URLs (the served model.onnx and the parts in priors.json, or ?model=,
// ?prior= and ?sampler=) or from files chosen on disk, in any order, told apart by their
// metadata; then the panels laid out for it, or a message instead of blank canvases.
import { Decoder } from "./decoder.js";
import { PageError } from "./errors.js";
import { buildSliders, drawManifold, setZ } from "./explorer.js";
import { buildPickers } from "./labels.js";
import { readMetadata } from "./onnx-metadata.js";
import { $, clearError, finish, page, showError, startTask } from "./page-state.js";
import { isPrior, Prior } from "./prior.js";
import { Sampler } from "./sampler.js";
import { describeSamples, drawSamples } from "./samples.js";
import { isSampler, ZSampler } from "./z-sampler.js";

// Models no longer shown (a decoder, its priors, its sampler): their sessions in the worker are
// freed (after the work already sent to them).
function release(models) {
  for (const model of models) model?.session.release();
}

const shown = () => [page.decoder, ...(page.sampler?.loops ?? []), page.zSampler];

// Nothing usable was opened: the message, and no blank canvases.
function openFailed(error) {
  release(shown());
  Object.assign(page, { decoder: null, sampler: null, zSampler: null, samplesFrom: "normal", samples: null, labels: {} });
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
  // A decoder of z with its fitted sampler: its samples beside N(0, I)'s (N(0, I) first).
  $("samples-from").replaceChildren(new Option("N(0, I)", "normal"),
    ...(page.zSampler ? [new Option(page.zSampler.label, page.zSampler.kind)] : []));
  $("samples-from").value = page.samplesFrom;
  $("samples-from-row").hidden = !page.zSampler;
  const given = ({ meta }) => meta.generates + (meta.conditionFrom ? ` given ${meta.conditionFrom}` : "");
  const order = loops.length > 1 ? `: ${loops.map(given).join(", then ")}` : "";
  const priorHint = page.sampler
    ? `Codes drawn from the prior${loops.length > 1 ? "s" : ""} position by position (${m.latentDim} prior calls, ` +
      `uniforms from the seed${order}), decoded. Click a sample to see its codes.`
    : "Sampling needs this decoder's priors: open the decoder and its prior .onnx files together, or serve a run " +
      "that has them (python -m keras_vae.zoo serve-web RUN_DIR). Typed codes still decode.";
  if (m.codes) {
    $("samples-title").textContent = `Samples from the prior${loops.length > 1 ? "s" : ""}`;
    $("samples-hint").textContent = priorHint;
  } else {
    describeSamples(); // the title and hint of N(0, I)'s or the sampler's z
  }
  $("new-samples").hidden = m.codes;
  $("prior-form").hidden = !page.sampler;
  $("seed").value = String(page.seed);
  $("seed").removeAttribute("aria-invalid");
  $("sample-status").textContent = "";
  return plane;
}

// The info line: what the decoder (and its priors, or its sampler) are, and the files.
function describe(m, file) {
  const [height, width, channels] = m.imageShape;
  const conditioned = m.conditions.map(({ name, classes }) => ` + ${name} (${classes} classes)`).join("");
  const loops = page.sampler?.loops ?? [];
  const priors = loops.length ? ` + prior${loops.length > 1 ? "s" : ""} v${loops.map((p) => p.meta.version || "?").join(", v")}` : " (no prior)";
  const latent = !m.codes ? `latent ${m.latentDim}` : `codes ${m.latents.map((l) => `${l.shape.join("×")} of ${l.classes}`).join(" + ")}${priors}`;
  const z = page.zSampler; // its own clause: the decoder's reads as without it
  const sampler = z ? ` · ${z.kind.toUpperCase()} sampler v${z.meta.version || "?"}${z.size}` : "";
  return `${m.entry || "?"} decoder v${m.version || "?"} (${m.class || "?"}), ` +
    `${latent}${conditioned}, images ${height}×${width}×${channels}, trained on ${m.dataset || "?"}, ` +
    `keras_vae ${m.keras_vae_version}${sampler} · ${[file, ...loops, z].filter(Boolean).map((f) => f.name).join(" + ")}`;
}

// What a file beside a decoder is, by its metadata: "sampler" (of z), "prior" (of codes), or
// null (Decoder.load says what is wrong with it, if it is meant as the decoder).
function partKind({ buffer }) {
  try {
    const props = readMetadata(buffer);
    return isSampler(props) ? "sampler" : isPrior(props) ? "prior" : null;
  } catch {
    return null;
  }
}

// Open a decoder ({buffer, name}) and its other parts: `findParts(decoder)` gives the files
// ([{buffer, name}], maybe none), priors for a decoder of codes or a sampler for a decoder of z,
// told apart by their metadata (a file that is neither is taken for what the decoder would
// take, and Prior.load or ZSampler.load says why it is not one).
async function open(file, findParts) {
  const mine = startTask();
  $("info").textContent = `Loading ${file.name}…`;
  clearError();
  let decoder = null;
  let zSampler = null;
  const priors = [];
  try {
    decoder = await Decoder.load(file.buffer, file.name);
    const partFiles = await findParts(decoder);
    const kind = (part) => partKind(part) ?? (decoder.meta.codes ? "prior" : "sampler"); // neither: what it takes
    const samplerFiles = partFiles.filter((part) => kind(part) === "sampler");
    const priorFiles = partFiles.filter((part) => !samplerFiles.includes(part));
    if (priorFiles.length && !decoder.meta.codes) {
      throw new PageError(`${priorFiles[0].name} is a prior over codes, but the decoder ${file.name} takes ` +
        `${decoder.meta.latentName}, not codes: open the decoder that goes with the prior.`);
    }
    if (samplerFiles.length > 1) {
      throw new PageError(`${samplerFiles.map((f) => f.name).join(", ")} are samplers: open one with the decoder ${file.name}.`);
    }
    for (const { buffer, name } of priorFiles) priors.push(await Prior.load(buffer, name, decoder));
    if (samplerFiles.length) zSampler = await ZSampler.load(samplerFiles[0].buffer, samplerFiles[0].name, decoder);
    const sampler = priors.length ? new Sampler(decoder, priors) : null;
    release(shown());
    Object.assign(page, { decoder, sampler, zSampler });
  } catch (error) {
    release([decoder, ...priors, zSampler]);
    openFailed(error);
    return;
  }
  const m = page.decoder.meta;
  $("info").textContent = describe(m, file);
  page.seed = 1;
  page.samples = null;
  page.samplesFrom = "normal"; // N(0, I) first, as without a sampler
  const plane = layOut(m);
  page.labels = Object.fromEntries(m.conditions.map(({ name }) => [name, 0]));
  buildPickers(m.conditions);
  $("panels").hidden = false;
  await finish(mine, async () => {
    await Promise.all([drawSamples(), plane ? drawManifold() : null]);
    // The explorer starts at z = 0, or at the first sample's codes (codes 0 are not a typical image).
    setZ(page.samples ? page.samples.codes.slice(0, m.latentDim) : new Array(m.latentDim).fill(0));
  });
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

// The decoder at `url` and its other parts at `partUrls` (priors, a sampler), or for null, the
// ones serve-web lists in priors.json (none on a server without that file).
export async function openUrl(url, partUrls) {
  let file;
  try {
    file = await fetchFile(url);
  } catch (error) {
    openFailed(error);
    return;
  }
  await open(file, async () => {
    const urls = partUrls ?? (await (await fetchUrl("priors.json", true))?.json()) ?? [];
    return Promise.all(urls.map(fetchFile));
  });
}

// Files chosen with the button: one decoder, and optionally its priors (a decoder of codes) or
// its sampler (a decoder of z), told apart by their metadata, so the order and the names do
// not matter.
export async function openFiles(files) {
  const opened = await Promise.all(files.map(async (file) => ({ buffer: await file.arrayBuffer(), name: file.name })));
  const parts = opened.filter(partKind);
  const others = opened.filter((file) => !parts.includes(file));
  if (others.length === 1) {
    await open(others[0], async () => parts);
    return;
  }
  const names = (list) => list.map((f) => f.name).join(", ");
  const kinds = [...new Set(parts.map(partKind))].map((kind) => `${kind}s`).join(" and "); // "priors", "samplers"
  startTask(); // an earlier open still running must not mark the page ready
  openFailed(new PageError(others.length === 0
    ? `${names(parts)} ${parts.length === 1 ? `is a ${partKind(parts[0])}: open it together with its` : `are ${kinds}: open them together with their`} ` +
      "decoder (choose the files together)."
    : `Open one decoder .onnx (and its priors, or its sampler), not ${names(opened)}.`));
}
