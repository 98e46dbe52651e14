// The page's Web Worker (a module worker): it owns every onnxruntime-web session, so that no
// model runs on the page's main thread (one call of a zoo-size VQ-VAE-2 prior holds a thread
// for about 0.5 s). inference.js sends {id, op, ...}; each request is answered once, with
// {id, result} or {id, error: {message, page}}, and a sampling also sends {id, progress} after
// every prior call. Big arrays (model bytes, feeds, images, codes) are transferred, not copied.
import { PageError } from "./errors.js";
import { sampleCodes } from "./prior-loop.js";

// Resolved against this script, which sits beside index.html: the same folder the page used.
const DIST = new URL("./node_modules/onnxruntime-web/dist/", import.meta.url).href;

let ort = null;
async function runtime() {
  if (ort) return ort;
  try {
    ort = await import(DIST + "ort.wasm.min.mjs"); // the wasm-only build: no WebGL/WebGPU code
  } catch (error) {
    throw new PageError(`Could not load onnxruntime-web from ${DIST} (${error.message}). ` +
      "Run `npm ci` in export/web and serve the page over http: python -m keras_vae.zoo serve-web");
  }
  ort.env.wasm.wasmPaths = DIST; // a worker has no page URL to guess the .wasm files' place from
  ort.env.wasm.numThreads = 1; // threads need cross-origin isolation; one is plenty here
  return ort;
}

const sessions = new Map(); // id -> {session, name, queue}
let opened = 0;

function entry(id) {
  const found = sessions.get(id);
  if (!found) throw new Error(`no session ${id} in the inference worker (released?)`);
  return found;
}

// Work on one session runs one piece at a time: a wasm session does not take overlapping runs.
// Other sessions' work (the explorer's decodes during a sampling) goes in between.
function queued(id, work) {
  const session = entry(id);
  const run = session.queue.then(() => work(session.session));
  session.queue = run.catch(() => {});
  return run;
}

// {name: {dtype, data: Float32Array | Int32Array, dims}} -> onnxruntime-web tensors (int64
// inputs get BigInt64Array copies of the int32 values).
function tensors(feeds) {
  return Object.fromEntries(Object.entries(feeds).map(([name, { dtype, data, dims }]) => {
    const values = dtype === "int64" ? BigInt64Array.from(data, BigInt) : data;
    return [name, new ort.Tensor(dtype, values, dims)];
  }));
}

// The session's outputs as {name: {data, dims}}, each array owning its buffer (so that it can
// be transferred without detaching anything onnxruntime-web still holds).
async function run(session, feeds) {
  const outputs = await session.run(tensors(feeds));
  return Object.fromEntries(Object.entries(outputs).map(([name, { data, dims }]) => {
    const owned = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
    return [name, { data: owned, dims: Array.from(dims) }];
  }));
}

const ops = {
  // The ONNX file's bytes -> {session: id, inputNames, outputNames}, or a PageError.
  async open({ buffer, name }) {
    await runtime();
    let session;
    try {
      session = await ort.InferenceSession.create(new Uint8Array(buffer), { executionProviders: ["wasm"] });
    } catch (error) {
      throw new PageError(`onnxruntime-web could not load ${name}: ${error.message}`);
    }
    sessions.set(++opened, { session, name, queue: Promise.resolve() });
    return { session: opened, inputNames: [...session.inputNames], outputNames: [...session.outputNames] };
  },
  run: ({ session, feeds }) => queued(session, (s) => run(s, feeds)),
  // Codes from the priors (prior-loop.js's sampleCodes); each loop is queued on its prior's session.
  sample: (request, progress) => sampleCodes(request, (id, loop) => queued(id, (s) => loop((feeds) => run(s, feeds))), progress),
  // After the work already queued on it: a page that opens another file no longer needs it.
  release: ({ session }) => {
    if (!sessions.has(session)) return null;
    const done = queued(session, (s) => s.release());
    sessions.delete(session);
    return done;
  },
};

// The ArrayBuffers under the typed arrays of a result, to transfer.
function buffers(value) {
  if (ArrayBuffer.isView(value)) return [value.buffer];
  return value && typeof value === "object" ? Object.values(value).flatMap(buffers) : [];
}

self.onmessage = async ({ data: { id, op, ...request } }) => {
  try {
    const result = await ops[op](request, (progress) => self.postMessage({ id, progress }));
    self.postMessage({ id, result }, buffers(result));
  } catch (error) {
    self.postMessage({ id, error: { message: error.message || String(error), page: error instanceof PageError } });
  }
};
