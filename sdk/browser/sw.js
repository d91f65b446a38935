// The Nanoedge Service Worker: requests under the configured route
// prefixes are answered by the routes' signed modules, inside the browser;
// everything else, and everything when a module cannot be verified or
// loaded, goes to the network.
//
// Registered by register.js with its configuration in the script URL:
//   { routes: ["/api/"], keys: ["ed25519:<base64>"], moduleURLs: {"/api/": url} }
// moduleURLs optionally fetch a route's bytes elsewhere (a CDN, say); the
// digest and signature from the worker's manifest still decide.

import { ModuleHost } from "./host.js";

const BASE = new URL("./", self.location).pathname;
const config = JSON.parse(new URL(self.location).searchParams.get("config") || "{}");
const routes = (config.routes || []).slice().sort((a, b) => b.length - a.length);
const hosts = new Map(); // route prefix -> Promise<ModuleHost | null>
const reports = new Map(); // route prefix -> how its load went

// matches is the worker's segment-aware prefix match: "/api" serves "/api"
// and "/api/x", not "/apix".
function matches(path, prefix) {
  if (!path.startsWith(prefix)) return false;
  return prefix.endsWith("/") || path.length === prefix.length || path[prefix.length] === "/";
}

async function load(prefix) {
  const t0 = performance.now();
  try {
    const m = await fetch(`${BASE}manifest?path=${encodeURIComponent(prefix)}`, { cache: "no-store" });
    if (!m.ok) throw new Error(`manifest for ${prefix}: ${m.status} ${(await m.text()).trim()}`);
    const manifest = await m.json();
    const r = await fetch(config.moduleURLs?.[prefix] || manifest.url);
    if (!r.ok) throw new Error(`module for ${prefix}: ${r.status}`);
    const bytes = new Uint8Array(await r.arrayBuffer());
    const fetched = performance.now() - t0;
    const host = await ModuleHost.load(bytes, manifest, config.keys);
    const timings = { fetch: fetched, ...host.timings, total: performance.now() - t0 };
    reports.set(prefix, { type: "nanoedge-module", route: prefix, ok: true, module: `${manifest.name}@${manifest.digest}`, timings });
    return host;
  } catch (err) {
    console.warn(`nanoedge: ${prefix} goes to the network:`, err);
    reports.set(prefix, { type: "nanoedge-module", route: prefix, ok: false, error: String(err.message || err) });
    return null;
  }
}

function hostFor(prefix) {
  if (!hosts.has(prefix)) hosts.set(prefix, load(prefix));
  return hosts.get(prefix);
}

self.addEventListener("install", (event) => event.waitUntil(self.skipWaiting()));
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith(BASE)) return;
  const prefix = routes.find((p) => matches(url.pathname, p));
  if (!prefix) return;
  const request = event.request.clone(); // the network fallback needs the body too
  event.respondWith(
    hostFor(prefix)
      .then((host) => (host ? host.handle(event.request) : null))
      .then((response) => response || fetch(request)),
  );
});

// A page can ask for a route's module to be loaded now, and learn how it
// went from the "nanoedge-module" message.
self.addEventListener("message", (event) => {
  if (event.data?.type !== "nanoedge-preload") return;
  event.waitUntil(Promise.all(routes.map(hostFor)).then(() => {
    for (const r of routes) event.source.postMessage(reports.get(r));
  }));
});
