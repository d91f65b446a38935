// The host<->guest encoding of docs/abi.md, version 1: little-endian u32
// lengths and counts; a header is a pair count then (name, value) pairs.

const enc = new TextEncoder();
const dec = new TextDecoder();

export const ABI_VERSION = 1;

// encodeRequest returns the bytes a guest's nanoedge_handle reads.
// headers is a list of [name, value] pairs; body a Uint8Array.
export function encodeRequest({ method, uri, host, remoteAddr, headers, body }) {
  const parts = [enc.encode(method), enc.encode(uri), enc.encode(host), enc.encode(remoteAddr || "")];
  const pairs = headers.map(([k, v]) => [enc.encode(k), enc.encode(v)]);
  let size = 4 * 4 + parts.reduce((n, p) => n + p.length, 0) + 4 + 4 + body.length;
  for (const [k, v] of pairs) size += 8 + k.length + v.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let off = 0;
  const bytes = (b) => {
    view.setUint32(off, b.length, true);
    out.set(b, off + 4);
    off += 4 + b.length;
  };
  parts.forEach(bytes);
  view.setUint32(off, pairs.length, true);
  off += 4;
  for (const [k, v] of pairs) {
    bytes(k);
    bytes(v);
  }
  bytes(body);
  return out;
}

// decodeResponse reads a guest's response: { status, headers: [[name,
// value]...], body: Uint8Array }. It throws on malformed input, as the
// worker answers 502 then.
export function decodeResponse(buf) {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  const u32 = () => {
    if (off + 4 > buf.length) throw new Error("abi: response truncated");
    const v = view.getUint32(off, true);
    off += 4;
    return v;
  };
  const bytes = () => {
    const n = u32();
    if (off + n > buf.length) throw new Error("abi: response truncated");
    const b = buf.subarray(off, off + n);
    off += n;
    return b;
  };
  const status = u32();
  if (status < 100 || status > 999) throw new Error(`abi: status ${status} out of range`);
  const count = u32();
  if (count * 8 > buf.length - off) throw new Error(`abi: ${count} header pairs cannot fit`);
  const headers = [];
  for (let i = 0; i < count; i++) headers.push([dec.decode(bytes()), dec.decode(bytes())]);
  const body = bytes().slice();
  if (off !== buf.length) throw new Error("abi: trailing bytes after the response");
  return { status, headers, body };
}

// canonicalHeaderKey is Go's textproto.CanonicalMIMEHeaderKey, so a guest
// sees the header names a worker would hand it ("content-type" becomes
// "Content-Type"); names with characters outside a token are left alone.
export function canonicalHeaderKey(name) {
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name) || name.includes(" ")) return name;
  let upper = true;
  let out = "";
  for (const c of name) {
    out += upper ? c.toUpperCase() : c.toLowerCase();
    upper = c === "-";
  }
  return out;
}
