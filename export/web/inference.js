// The page's side of the inference worker (inference-worker.js), which owns every
// onnxruntime-web session, so that the page's main thread never runs a model: requests with ids,
// answered by results (typed arrays transferred, not copied), errors and sampling progress.
import { PageError } from "./errors.js";

let worker = null;
let lastId = 0;
const pending = new Map(); // request id -> {resolve, reject, progress}

function answer({ data: { id, result, error, progress } }) {
  const request = pending.get(id);
  if (!request) return;
  if (progress) return request.progress(progress);
  pending.delete(id);
  if (error) request.reject(error.page ? new PageError(error.message) : new Error(error.message));
  else request.resolve(result);
}

// A worker that cannot start (its script missing or broken) fails every waiting request; the
// next request starts a new one.
function stopped(event) {
  const why = event.message ? `: ${event.message}` : " (its script could not be loaded)";
  for (const { reject } of pending.values()) reject(new PageError(`The page's inference worker stopped${why}.`));
  pending.clear();
  worker.terminate();
  worker = null;
}

// Send the worker `op` with `args`, handing over the ArrayBuffers in `transfer` (they are
// detached here); `progress(report)` gets the worker's reports until the answer comes.
function request(op, args, transfer = [], progress = () => {}) {
  if (!worker) {
    worker = new Worker(new URL("./inference-worker.js", import.meta.url), { type: "module" });
    worker.onmessage = answer;
    worker.onerror = stopped;
  }
  const id = ++lastId;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, progress });
    worker.postMessage({ id, op, ...args }, transfer);
  });
}

// An onnxruntime-web session in the worker.
export class Session {
  // The session of an .onnx file's bytes (`buffer` is transferred: it is unusable here after),
  // or a PageError naming `name`.
  static async open(buffer, name) {
    const { session, inputNames, outputNames } = await request("open", { buffer, name }, [buffer]);
    return new Session(session, inputNames, outputNames);
  }

  constructor(id, inputNames, outputNames) {
    Object.assign(this, { id, inputNames, outputNames });
  }

  // {input: {dtype, data: Float32Array | Int32Array, dims}} -> {output: {data, dims}}. The
  // feeds' arrays are transferred.
  run(feeds) {
    return request("run", { session: this.id, feeds }, Object.values(feeds).map(({ data }) => data.buffer));
  }

  // Frees the session once the work already sent to it is done (nothing to free if the worker stopped).
  release() {
    return request("release", { session: this.id }).catch(() => {});
  }
}

// Codes drawn by the priors' loops in the worker (prior-loop.js's sampleCodes: {seed, n,
// latentDim, loops}), with `progress` after every prior call.
export function sampleCodes(sampling, progress) {
  return request("sample", sampling, [], progress);
}
