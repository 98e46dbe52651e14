// Small helpers: drawing decoded images into canvases, seeded normal and uniform samples, rounding
// (to 3 decimals, or a float32 to its shortest decimal).

// 3 decimals, so the z text box always shows exactly the vector that was decoded.
export const round3 = (v) => Math.round(v * 1000) / 1000;

// The shortest decimal whose float32 is the float32 `v` (at most 9 significant digits): a model's
// float32 output as the z text box shows it, which decodes (as float32) to that very output.
export function float32Text(v) {
  for (let digits = 1; digits < 9; digits++) {
    const shorter = Number(v.toPrecision(digits));
    if (Math.fround(shorter) === v) return shorter;
  }
  return Number(v.toPrecision(9));
}

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

// mulberry32: a tiny seeded generator of uint32 draws (a small, well-known PRNG that Python
// reimplements in a few lines, so tests/test_web.py can repeat the page's draws exactly).
export function mulberry32(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

export function normals(n, seed) {
  const next = mulberry32(seed); // then Box-Muller: repeatable samples per seed
  const uniform = () => (next() + 0.5) / 4294967296;
  return Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()));
}

// n uniforms in [0, 1) for the prior's sampling rule: the top 24 bits of each mulberry32 draw
// times 2^-24, so every value is exactly a float32 (the rule compares u with a float32 CDF, and
// no rounding of u can then differ between the page and Python).
export function uniforms(n, seed) {
  const next = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (next() >>> 8) / 16777216);
}
