// register installs the Nanoedge Service Worker for this origin and
// resolves once it controls the page. Options:
//   routes: path prefixes answered in the browser, e.g. ["/api/"]
//   keys: trusted publisher public keys, "ed25519:<base64>"
//   moduleURLs: optional { prefix: url } to fetch module bytes elsewhere
//   base: where the worker serves this SDK (default "/.nanoedge/browser/")
export async function register({ routes, keys, moduleURLs, base = "/.nanoedge/browser/" }) {
  checkKeys(keys);
  const config = JSON.stringify({ routes, keys, moduleURLs });
  const reg = await navigator.serviceWorker.register(`${base}sw.js?config=${encodeURIComponent(config)}`, {
    type: "module",
    scope: "/",
  });
  await navigator.serviceWorker.ready;
  if (!navigator.serviceWorker.controller) {
    await new Promise((resolve) => navigator.serviceWorker.addEventListener("controllerchange", resolve, { once: true }));
  }
  return reg;
}

// preload asks the Service Worker to fetch, verify and compile every
// route's module now; it resolves with one report per route:
// { route, ok, module, timings } or { route, ok: false, error }.
export function preload(routes) {
  return new Promise((resolve) => {
    const reports = new Map();
    const onMessage = (e) => {
      if (e.data?.type !== "nanoedge-module") return;
      reports.set(e.data.route, e.data);
      if (reports.size === routes.length) {
        navigator.serviceWorker.removeEventListener("message", onMessage);
        resolve([...reports.values()]);
      }
    };
    navigator.serviceWorker.addEventListener("message", onMessage);
    navigator.serviceWorker.controller.postMessage({ type: "nanoedge-preload" });
  });
}

// checkKeys throws for a key that is not "ed25519:" and the base64 of 32
// bytes, as `nanoedge keys list` prints it: a key pasted in another form
// would otherwise trust nothing, silently.
export function checkKeys(keys) {
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new Error("nanoedge register: keys must list the trusted publisher keys, as 'nanoedge keys list' prints them (ed25519:<base64>)");
  }
  keys.forEach((k, i) => {
    let raw = null;
    if (typeof k === "string" && k.startsWith("ed25519:")) {
      try {
        raw = atob(k.slice("ed25519:".length));
      } catch {
        raw = null;
      }
    }
    if (raw === null || raw.length !== 32) {
      throw new Error(`nanoedge register: key ${i + 1} (${String(k).slice(0, 24)}...) is not a public key as 'nanoedge keys list' prints it: want "ed25519:" and the base64 of 32 bytes`);
    }
  });
}
