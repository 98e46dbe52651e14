// Opening a decoder (and, for a decoder of codes, its priors): from URLs (the served
// model.onnx and the priors in priors.json, or ?model= and ?prior=) or from files chosen on
// disk, in any order; then the panels laid out for it, or a message instead of blank canvases.
import { Decoder } from "./decoder.js";
import { PageError } from "./errors.js";
import { buildSliders, drawManifold, setZ } from "./explorer.js";
import { buildPickers } from "./labels.js";
import { readMetadata } from "./onnx-metadata.js";
import { $, clearError, finish, page, showError, startTask } from "./page-state.js";
import { isPrior, Prior } from "./prior.js";
import { Sampler } from "./sampler.js";
import { drawSamples } from "./samples.js";

// A decoder and its priors no longer shown: their sessions in the worker are freed (after the
// work already sent to them).
function release(decoder, priors) {
  for (const model of [decoder, ...priors]) model?.session.release();
}

// Nothing usable was opened: the message, and no blank canvases.
function openFailed(error) {
  release(page.decoder, page.sampler?.loops ?? []);
  Object.assign(page, { decoder: null, sampler: null, samples: null, labels: {} });
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

// The info line: what the decoder (and its priors) are, and the files.
function describe(m, file) {
  const [height, width, channels] = m.imageShape;
  const conditioned = m.conditions.map(({ name, classes }) => ` + ${name} (${classes} classes)`).join("");
  const loops = page.sampler?.loops ?? [];
  const priors = loops.length ? ` + prior${loops.length > 1 ? "s" : ""} v${loops.map((p) => p.meta.version || "?").join(", v")}` : " (no prior)";
  const latent = !m.codes ? `latent ${m.latentDim}` : `codes ${m.latents.map((l) => `${l.shape.join("×")} of ${l.classes}`).join(" + ")}${priors}`;
  return `${m.entry || "?"} decoder v${m.version || "?"} (${m.class || "?"}), ` +
    `${latent}${conditioned}, images ${height}×${width}×${channels}, trained on ${m.dataset || "?"}, ` +
    `keras_vae ${m.keras_vae_version} · ${[file, ...loops].map((f) => f.name).join(" + ")}`;
}

// Open a decoder ({buffer, name}) and, for a decoder of codes, its priors: `findPriors(decoder)`
// gives the prior files ([{buffer, name}], maybe none).
async function open(file, findPriors) {
  const mine = startTask();
  $("info").textContent = `Loading ${file.name}…`;
  clearError();
  let decoder = null;
  const priors = [];
  try {
    decoder = await Decoder.load(file.buffer, file.name);
    const priorFiles = await findPriors(decoder);
    if (priorFiles.length && !decoder.meta.codes) {
      throw new PageError(`${priorFiles[0].name} is a prior over codes, but the decoder ${file.name} takes ` +
        `${decoder.meta.latentName}, not codes: open the decoder that goes with the prior.`);
    }
    for (const { buffer, name } of priorFiles) priors.push(await Prior.load(buffer, name, decoder));
    const sampler = priors.length ? new Sampler(decoder, priors) : null;
    release(page.decoder, page.sampler?.loops ?? []);
    Object.assign(page, { decoder, sampler });
  } catch (error) {
    release(decoder, priors);
    openFailed(error);
    return;
  }
  const m = page.decoder.meta;
  $("info").textContent = describe(m, file);
  page.seed = 1;
  page.samples = null;
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

// The decoder at `url`; for a decoder of codes, the priors at `priorUrls` too, or for null, the
// ones serve-web lists in priors.json (none on a server without that file).
export async function openUrl(url, priorUrls) {
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
export async function openFiles(files) {
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
  startTask(); // an earlier open still running must not mark the page ready
  openFailed(new PageError(others.length === 0
    ? `${names(priors)} ${priors.length === 1 ? "is a prior: open it together with its" : "are priors: open them together with their"} ` +
      "decoder (choose the files together)."
    : `Open one decoder .onnx (and, for a decoder of codes, its priors), not ${names(opened)}.`));
}
