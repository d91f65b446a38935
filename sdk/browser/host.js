// A Nanoedge module host for the browser: verifies a signed handler
// module, then answers fetch Requests with it, as a worker would.

import { ABI_VERSION, canonicalHeaderKey, decodeResponse, encodeRequest } from "./abi.js";
import { Exit, WASI } from "./wasi.js";

const enc = new TextEncoder();

// HostHeader marks responses the browser host produced.
export const HOST_HEADER = "X-Nanoedge-Host";

// Statuses whose responses carry no body.
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

function hex(buf) {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function base64(s) {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

// keyID is sdk/signing.KeyID: "ed25519:" and 16 hex digits of sha256(key).
async function keyID(raw) {
  return "ed25519:" + hex(await crypto.subtle.digest("SHA-256", raw)).slice(0, 16);
}

// verifyModule checks that bytes are the module the manifest names and
// that a trusted publisher key signed its name and digest. keys are public
// keys as `nanoedge keys list` and `keys generate` print them
// ("ed25519:<base64>"). It throws, saying why, when anything is off.
export async function verifyModule(bytes, { name, digest, keyId, signature }, keys) {
  const got = "sha256:" + hex(await crypto.subtle.digest("SHA-256", bytes));
  if (got !== digest) throw new Error(`module bytes have digest ${got}, the manifest says ${digest}`);
  for (const k of keys || []) {
    if (!k.startsWith("ed25519:")) continue;
    const raw = base64(k.slice("ed25519:".length));
    if ((await keyID(raw)) !== keyId) continue;
    const key = await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
    const payload = enc.encode(`nanoedge.module.v1\0${name}\0${digest}`);
    if (await crypto.subtle.verify({ name: "Ed25519" }, key, base64(signature), payload)) return;
    throw new Error(`signature by ${keyId} over ${name}@${digest} does not verify`);
  }
  throw new Error(`module ${name}@${digest} is signed by ${keyId || "no key"}, which is not a trusted key`);
}

// ModuleHost runs one module: one warm instance, replaced after a trap.
export class ModuleHost {
  constructor(module, { name, digest, log = console }) {
    this.module = module;
    this.name = name;
    this.digest = digest;
    this.log = log;
    this.instance = null;
  }

  // load verifies bytes against the manifest and keys, compiles them and
  // creates the first instance. timings (ms) says where the time went.
  static async load(bytes, manifest, keys, log = console) {
    const t0 = performance.now();
    await verifyModule(bytes, manifest, keys);
    const t1 = performance.now();
    const module = await WebAssembly.compile(bytes);
    const t2 = performance.now();
    const host = new ModuleHost(module, { ...manifest, log });
    await host.instantiate();
    const t3 = performance.now();
    host.timings = { verify: t1 - t0, compile: t2 - t1, init: t3 - t2 };
    return host;
  }

  async instantiate() {
    const tag = `[${this.name}@${this.digest.slice(7, 19)}]`;
    const wasi = new WASI({ stdout: (l) => this.log.log(tag, l), stderr: (l) => this.log.warn(tag, l) });
    // A browser holds no flags or stores: a handler reads none, and
    // streams nothing: responses are delivered whole (docs/abi.md). A
    // handler that calls out over HTTP is stopped and its request goes to
    // the network, where a worker makes the call under the route's policy.
    const invalid = () => -6;
    const nanoedge = {
      flag_get: () => -1, kv_get: () => -2,
      http_send: () => { throw new FallThrough("the handler calls out over HTTP; a worker does that"); },
      http_head: invalid, http_read: invalid, http_close: () => 0, http_error: () => 0,
      response_start: () => -7, response_write: invalid, response_trailers: invalid,
    };
    const instance = await WebAssembly.instantiate(this.module, { wasi_snapshot_preview1: wasi.imports, nanoedge });
    wasi.memory = instance.exports.memory;
    for (const f of ["nanoedge_abi_version", "nanoedge_alloc", "nanoedge_handle"]) {
      if (typeof instance.exports[f] !== "function") throw new Error(`module does not export ${f}`);
    }
    if (instance.exports._initialize) instance.exports._initialize();
    const v = instance.exports.nanoedge_abi_version();
    if (v !== ABI_VERSION) throw new Error(`module speaks ABI version ${v}; this host knows ${ABI_VERSION}`);
    this.instance = instance;
    this.wasi = wasi;
  }

  // handle answers a Request with the module: the same request the worker
  // would hand it, the same response semantics. A trap or proc_exit
  // answers 500 and the instance is replaced.
  async handle(request) {
    const url = new URL(request.url);
    const headers = [];
    for (const [k, v] of request.headers) headers.push([canonicalHeaderKey(k), v]);
    const body = new Uint8Array(await request.arrayBuffer());
    const req = encodeRequest({ method: request.method, uri: url.pathname + url.search, host: url.host, remoteAddr: "", headers, body });
    if (!this.instance) await this.instantiate();
    let resp;
    try {
      const ex = this.instance.exports;
      const ptr = ex.nanoedge_alloc(req.length);
      new Uint8Array(ex.memory.buffer).set(req, ptr);
      const packed = BigInt.asUintN(64, ex.nanoedge_handle(ptr, req.length));
      const outPtr = Number(packed >> 32n);
      const outLen = Number(packed & 0xffffffffn);
      resp = decodeResponse(new Uint8Array(ex.memory.buffer, outPtr, outLen));
    } catch (err) {
      this.instance = null; // trapped, exited, stopped or corrupt: never reused
      if (err instanceof FallThrough) return null;
      this.log.warn(`nanoedge: handler ${this.name} failed:`, err instanceof Exit ? err.message : err);
      const malformed = err instanceof Error && err.message.startsWith("abi:");
      return failure(malformed ? 502 : 500, "nanoedge: the handler failed");
    } finally {
      this.wasi?.flush();
    }
    const h = new Headers();
    for (const [k, v] of resp.headers) {
      try {
        h.append(k, v);
      } catch {
        // A name or value the browser refuses is dropped.
      }
    }
    h.set(HOST_HEADER, "browser");
    h.set("X-Nanoedge-Version", `${this.name}@${this.digest.slice(0, 19)}`);
    const status = resp.status < 200 || resp.status > 599 ? 502 : resp.status;
    return new Response(NULL_BODY.has(status) ? null : resp.body, { status, headers: h });
  }
}

// FallThrough stops a handler whose request the network must answer:
// handle then returns null.
class FallThrough extends Error {}

function failure(status, msg) {
  return new Response(msg + "\n", {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff", [HOST_HEADER]: "browser" },
  });
}
