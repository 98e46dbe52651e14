// A keras_vae ONNX prior over one of a decoder's grids of codes (a VQ-VAE's PixelCNN; VQ-VAE-2's
// top one, or its bottom one, conditioned on the top codes): the checks that it fits the
// decoder, and its onnxruntime-web session in the inference worker. One call gives the logits
// of every position; the autoregressive loop (prior-loop.js) runs in the worker too.
import { declaredInputs, readExport, shapeText } from "./decoder.js";
import { PageError } from "./errors.js";
import { Session } from "./inference.js";
import { isSampler } from "./z-sampler.js";

const EXPORT_HINT = "Export every part with: python -m keras_vae.zoo export RUN_DIR --format onnx --part all";

// Whether ONNX metadata `props` are a prior's: its part is "prior" (a VQ-VAE's) or it names the
// decoder input its loop generates (VQ-VAE-2's "top_prior" and "bottom_prior"), and it is not
// a sampler of z (z-sampler.js: it names what it generates too).
export const isPrior = (props) => !isSampler(props) && (props.part === "prior" || "generates" in props);

// Why `input` cannot take the decoder's grid `grid`, or null: the same shape, the same number of
// codes, integers.
function gridMismatch(input, grid) {
  if (input.values !== "index" || input.shape.join() !== grid.shape.join() || input.classes !== grid.classes) {
    return `it takes ${input.name} ${shapeText(input.shape)} of ${input.classes} codes, the decoder ` +
      `${grid.name} ${shapeText(grid.shape)} of ${grid.classes}`;
  }
  return ["int32", "int64"].includes(input.dtype) ? null : `its ${input.name} are ${input.dtype}, not int32 or int64`;
}

// Why the prior cannot sample for this decoder, or null. It draws the decoder's grid `generates`
// (in exports older than that key, the decoder's only grid): its first input takes that grid,
// and a conditioned prior (VQ-VAE-2's bottom level) takes the grid `condition_from` as its
// second; it gives logits [batch, ...grid, classes] in raster order.
function mismatch(props, inputs, latents) {
  if (!isPrior(props)) return `it is the ${props.part} of ${props.entry}, not a prior`;
  const generates = props.generates ?? (latents.length === 1 ? latents[0].name : undefined);
  const grid = latents.find((l) => l.name === generates);
  if (!grid) {
    return `it draws ${generates ?? "(no generates in its metadata)"}, which the decoder does not take ` +
      `(it takes ${latents.map((l) => l.name).join(", ")})`;
  }
  const conditionFrom = props.condition_from;
  const condition = conditionFrom === undefined ? undefined : latents.find((l) => l.name === conditionFrom);
  if (conditionFrom !== undefined && !condition) return `it is conditioned on ${conditionFrom}, which the decoder does not take`;
  const wanted = condition ? 2 : 1;
  if (inputs.length !== wanted) {
    const feeds = condition ? `${grid.name} and ${condition.name}` : grid.name;
    return `it takes ${inputs.map((i) => i.name).join(", ")}; the page feeds it ${feeds}`;
  }
  if ((props.order ?? "raster") !== "raster") return `its order is ${props.order}; the page samples in raster order`;
  return gridMismatch(inputs[0], grid) ?? (condition ? gridMismatch(inputs[1], condition) : null);
}

export class Prior {
  // `buffer`: the bytes of an .onnx file; `name`: how messages call it; `decoder`: the Decoder
  // one of whose grids it draws.
  static async load(buffer, name, decoder) {
    const props = readExport(buffer, name, EXPORT_HINT);
    const inputs = declaredInputs(props, name);
    const { latents } = decoder.meta;
    const why = mismatch(props, inputs, latents);
    if (why) throw new PageError(`${name} cannot sample codes for the decoder ${decoder.name}: ${why}.\n${EXPORT_HINT}`);
    const session = await Session.open(buffer, name);
    const declared = inputs.map((i) => i.name);
    if (session.inputNames.join() !== declared.join() || !session.outputNames.includes("logits")) {
      session.release();
      throw new PageError(`${name} does not have the prior interface its keras_vae metadata declares, ` +
        `${declared.join(", ")} -> logits (it has ${session.inputNames.join(", ")} -> ${session.outputNames.join(", ")}).`);
    }
    const generates = props.generates ?? latents[0].name;
    const meta = { ...props, generates, conditionFrom: props.condition_from ?? null, input: inputs[0],
      condition: inputs[1] ?? null };
    return new Prior(session, meta, name);
  }

  constructor(session, meta, name) {
    Object.assign(this, { session, meta, name });
  }
}
