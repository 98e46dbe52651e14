// The label pickers of a conditional decoder: one <select> per integer input of shape [] (e.g.
// a cvae's labels); picking one decodes the samples, the plane and the explorer again.
import { drawManifold, setZ } from "./explorer.js";
import { $, finish, page, showError, startTask } from "./page-state.js";
import { drawSamples } from "./samples.js";

// One picker (a <select>, values 0..classes-1) per integer input; the first has id="label".
export function buildPickers(conditions) {
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
export async function setLabels(changes) {
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
  await finish(startTask(), async () => {
    setZ(page.z);
    await Promise.all([drawSamples(), page.decoder.meta.latentDim === 2 ? drawManifold() : null]);
  });
}
