// A keras_vae ONNX sampler of a VAE's z (the "sampler" part: the Gaussian mixture fitted to the
// training split's posterior means after training, keras_vae/core/mixture.py): the checks that
// it fits the decoder, and its draws. A draw is one deterministic function of a uniform u and
// normal noise eps (z = mu_c + L_c eps, c the component whose cumulative-weight interval holds
// u), so the page feeds both from its seeded generators and Python can repeat its z exactly.
// Its onnxruntime-web session lives in the inference worker (inference.js), like the decoder's.
import { declaredInputs, parse, readExport, shapeText } from "./decoder.js";
import { PageError } from "./errors.js";
import { float32Text, normals, uniforms } from "./images.js";
import { Session } from "./inference.js";

const EXPORT_HINT = "Export it with: python -m keras_vae.zoo export RUN_DIR --format onnx --part sampler " +
  "(after fitting it: python -m keras_vae.zoo train --resume RUN_DIR --stage sampler)";

// Whether ONNX metadata `props` are a sampler's. Checked before isPrior (prior.js): a sampler
// also says what it `generates` (z).
export const isSampler = (props) => props.part === "sampler";

// Why the sampler cannot draw z for this decoder, or null: it generates the decoder's z (of
// the same latent_dim) from uniform [1] and noise [latent_dim], the two inputs the page feeds.
function mismatch(props, inputs, decoder, name) {
  const m = decoder.meta;
  if (!isSampler(props)) return `it is the ${props.part} of ${props.entry}, not a sampler`;
  if (m.codes) {
    return `the decoder takes ${m.latentName}, not z (a VQ-VAE's codes come from its priors: open the decoder ` +
      "with its prior .onnx files)";
  }
  if ((props.generates ?? "z") !== m.latentName) return `it draws ${props.generates}, the decoder takes ${m.latentName}`;
  const latentDim = parse(props, "latent_dim", name);
  if (latentDim !== m.latentDim) {
    return `it draws z of ${latentDim} dimensions, the decoder takes z of ${m.latentDim} (latent_dim in their ` +
      "metadata): open the sampler exported from the decoder's run";
  }
  const [uniform, noise, ...more] = inputs;
  const fits = (input, want, shape, values) => input?.name === want && input.dtype === "float32" &&
    input.values === values && input.shape.join() === shape.join();
  if (more.length || !fits(uniform, "uniform", [1], "unit") || !fits(noise, "noise", [latentDim], "normal")) {
    const text = inputs.map((i) => `${i.name} (${i.dtype} ${shapeText(i.shape)}, values ${i.values})`).join(", ");
    return `it takes ${text}; the page feeds uniform (float32 [batch, 1] in [0, 1)) and noise ` +
      `(float32 [batch, ${latentDim}] ~ N(0, 1))`;
  }
  return null;
}

export class ZSampler {
  // `buffer`: the bytes of an .onnx file; `name`: how messages call it; `decoder`: the Decoder
  // whose z it draws.
  static async load(buffer, name, decoder) {
    const props = readExport(buffer, name, EXPORT_HINT);
    const inputs = declaredInputs(props, name);
    const why = mismatch(props, inputs, decoder, name);
    if (why) throw new PageError(`${name} cannot sample z for the decoder ${decoder.name}: ${why}.`);
    const session = await Session.open(buffer, name);
    if (session.inputNames.join() !== "uniform,noise" || !session.outputNames.includes("z")) {
      session.release();
      throw new PageError(`${name} does not have the sampler interface its keras_vae metadata declares, ` +
        `uniform, noise -> z (it has ${session.inputNames.join(", ")} -> ${session.outputNames.join(", ")}).`);
    }
    const components = props.components === undefined ? null : parse(props, "components", name);
    return new ZSampler(session, { ...props, latentDim: decoder.meta.latentDim, components }, name);
  }

  constructor(session, meta, name) {
    Object.assign(this, { session, meta, name });
  }

  // What it is, from its metadata: "gmm" (the value of the samples panel's choice).
  get kind() {
    return this.meta.sampler || "sampler";
  }

  // " (3 components)", or "" if its metadata does not say.
  get size() {
    const { components } = this.meta;
    return components ? ` (${components} component${components === 1 ? "" : "s"})` : "";
  }

  // "GMM (3 components)": what the samples panel offers.
  get label() {
    return this.kind.toUpperCase() + this.size;
  }

  // z for n samples of `seed`: n rows of latentDim numbers. Sample i takes u = uniforms(n,
  // seed)[i] (the float32 uniforms of the priors' loops, images.js) and eps = normals(latentDim,
  // seed * 1000 + i) (the very stream the N(0, I) sample i is drawn from, unrounded), as float32.
  // Each value is the shortest decimal that is the sampler's float32 z, so the z box shows the
  // vector decoded, and decoding it feeds the decoder exactly the sampler's output.
  async sample(seed, n) {
    const { latentDim } = this.meta;
    const noise = new Float32Array(n * latentDim);
    for (let i = 0; i < n; i++) noise.set(normals(latentDim, seed * 1000 + i), i * latentDim);
    const { z } = await this.session.run({
      uniform: { dtype: "float32", data: uniforms(n, seed), dims: [n, 1] },
      noise: { dtype: "float32", data: noise, dims: [n, latentDim] },
    });
    if (z.dims.join() !== [n, latentDim].join()) {
      throw new PageError(`${this.name} returned z of shape [${z.dims}], not [${[n, latentDim]}].`);
    }
    if (!z.data.every(Number.isFinite)) throw new PageError(`${this.name} returned a z that is not finite.`);
    return Array.from({ length: n }, (_, i) => Array.from(z.data.subarray(i * latentDim, (i + 1) * latentDim), float32Text));
  }
}
