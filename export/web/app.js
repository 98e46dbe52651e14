// The page: a grid of samples and a latent explorer for any keras_vae decoder (opening.js,
// explorer.js, samples.js, labels.js); the models run in a Web Worker (inference.js). This
// module exposes the page's state as window.kerasVae, wires the controls and opens the decoder
// the URL names (by default the one serve-web serves, with the priors it lists).
import { PageError } from "./errors.js";
import { wireExplorer } from "./explorer.js";
import { setLabels } from "./labels.js";
import { openFiles, openUrl } from "./opening.js";
import { $, page, showError } from "./page-state.js";
import { wireSamples } from "./samples.js";

// label: the first label input's value (null if the decoder has none); setting it picks that
// label as the picker does.
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

wireExplorer();
wireSamples();
$("file").addEventListener("change", async (event) => {
  const files = [...event.target.files];
  if (!files.length) return;
  document.body.dataset.state = "loading"; // at once, so no one reads the previous file's state
  await openFiles(files);
  event.target.value = ""; // opening the same file again still fires "change"
});

// ?model=URL picks another decoder, ?prior=URL (one per grid of codes) its priors, ?sampler=URL
// its fitted sampler of z; by default the served decoder and the parts serve-web lists (not for
// another decoder: they are not its). The page tells the parts apart by their metadata.
const query = new URLSearchParams(location.search);
const partUrls = [...query.getAll("prior"), ...query.getAll("sampler")];
openUrl(query.get("model") || "model.onnx", partUrls.length || query.has("model") ? partUrls : null);
