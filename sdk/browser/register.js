// register installs the Nanoedge Service Worker for this origin and
// resolves once it controls the page. Options:
//   routes: path prefixes answered in the browser, e.g. ["/api/"]
//   keys: trusted publisher public keys, "ed25519:<base64>"
//   moduleURLs: optional { prefix: url } to fetch module bytes elsewhere
//   base: where the worker serves this SDK (default "/.nanoedge/browser/")
export async function register({ routes, keys, moduleURLs, base = "/.nanoedge/browser/" }) {
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
