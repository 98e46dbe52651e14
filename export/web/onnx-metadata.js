// The metadata_props of an ONNX file, read straight from its protobuf bytes.
// onnxruntime-web does not expose custom metadata, and reading it from the file itself works for
// any decoder (served or opened from disk) with nothing beside it that could go stale.

const MODEL_GRAPH = 7; // ModelProto fields: graph, metadata_props (StringStringEntryProto)
const MODEL_METADATA = 14;

class Reader {
  constructor(bytes, start = 0, end = bytes.length) {
    Object.assign(this, { bytes, pos: start, end });
  }

  varint() {
    let value = 0;
    for (let scale = 1; ; scale *= 128) { // arithmetic, not bit ops: lengths may pass 2^31
      if (this.pos >= this.end || scale > 2 ** 63) throw new Error("truncated or malformed varint");
      const byte = this.bytes[this.pos++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
    }
  }

  // Each field as [number, wire type, offset just after its tag]; payloads are skipped.
  *fields() {
    while (this.pos < this.end) {
      const tag = this.varint();
      const number = Math.floor(tag / 8);
      const wire = tag % 8;
      const start = this.pos;
      if (wire === 0) this.varint();
      else if (wire === 1) this.pos += 8;
      else if (wire === 2) {
        const length = this.varint(); // read first: `this.pos += this.varint()` adds to the old pos
        this.pos += length;
      }
      else if (wire === 5) this.pos += 4;
      else throw new Error(`unexpected wire type ${wire}`);
      if (number < 1 || this.pos > this.end) throw new Error("malformed field");
      yield [number, wire, start];
    }
  }
}

const text = new TextDecoder("utf-8", { fatal: true });

function lengthDelimited(bytes, start) {
  const reader = new Reader(bytes, start);
  const length = reader.varint();
  return [reader.pos, reader.pos + length];
}

// {key: value} of the model's metadata_props; throws if the bytes are not an ONNX ModelProto.
export function readMetadata(buffer) {
  const bytes = new Uint8Array(buffer);
  const props = {};
  let hasGraph = false;
  for (const [number, wire, start] of new Reader(bytes).fields()) {
    if (wire !== 2) continue;
    if (number === MODEL_GRAPH) hasGraph = true;
    if (number !== MODEL_METADATA) continue;
    const [from, to] = lengthDelimited(bytes, start);
    let key = "", value = "";
    for (const [field, type, at] of new Reader(bytes, from, to).fields()) {
      if (type !== 2) continue;
      const [a, b] = lengthDelimited(bytes, at);
      if (field === 1) key = text.decode(bytes.subarray(a, b));
      if (field === 2) value = text.decode(bytes.subarray(a, b));
    }
    props[key] = value;
  }
  if (!hasGraph) throw new Error("no graph in the file");
  return props;
}
