// Small helpers: drawing decoded images into canvases, seeded normal samples, rounding.

// 3 decimals, so the z text box always shows exactly the vector that was decoded.
export const round3 = (v) => Math.round(v * 1000) / 1000;
export const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

// Draw image `index` of a decoded batch into `canvas` at (x, y), pixel for pixel. Uint8ClampedArray clamps
// to [0, 255] and rounds to nearest, ties to even: 8-bit values as numpy.round gives them.
export function draw(canvas, data, index, [height, width, channels], x = 0, y = 0) {
  const image = new ImageData(width, height);
  const offset = index * height * width * channels;
  for (let p = 0; p < height * width; p++) {
    for (let c = 0; c < 3; c++) image.data[4 * p + c] = data[offset + p * channels + (channels === 3 ? c : 0)] * 255;
    image.data[4 * p + 3] = 255;
  }
  canvas.getContext("2d").putImageData(image, x, y);
}

export function sized(canvas, [height, width]) {
  if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
  return canvas;
}

export function normals(n, seed) {
  let s = seed >>> 0; // mulberry32, then Box-Muller: repeatable samples per seed
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()));
}
