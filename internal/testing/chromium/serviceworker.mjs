// serviceworker.mjs WORKER_URL CONFIG_FILE: drives the browser host
// against a worker on loopback. CONFIG_FILE holds { key, otherKey,
// tamperURL, cases }. Prints one JSON line after the checks that need the
// worker up, waits for a line on stdin (the worker has been stopped), then
// prints one JSON line from the checks made with the worker down.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { launch, fail } from "./launch.mjs";

const [workerURL, configFile] = process.argv.slice(2);
if (!workerURL || !configFile) fail("usage: node serviceworker.mjs WORKER_URL CONFIG_FILE");
const cfg = JSON.parse(readFileSync(configFile, "utf8"));

// In the page: register the Service Worker with opts, preload, report.
async function install(context, opts) {
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e}`));
  await page.goto(`${workerURL}/app/`);
  // The page's CSP is in force: an inline script does not run.
  const inlineRan = await page.evaluate(() => new Promise((resolve) => {
    window.inlineRan = false;
    const s = document.createElement("script");
    s.textContent = "window.inlineRan = true";
    document.head.append(s);
    setTimeout(() => resolve(window.inlineRan), 50);
  }));
  const reports = await page.evaluate(async (opts) => {
    const sdk = await import("/.nanoedge/browser/register.js");
    await sdk.register(opts);
    return sdk.preload(opts.routes);
  }, opts);
  return { page, reports, logs, inlineRan };
}

// In the page: one fetch, described.
function probe(page, path, init = {}) {
  return page.evaluate(async ({ path, init }) => {
    try {
      const r = await fetch(path, init);
      const body = new Uint8Array(await r.arrayBuffer());
      return { status: r.status, host: r.headers.get("X-Nanoedge-Host"), version: r.headers.get("X-Nanoedge-Version"), size: body.length };
    } catch (err) {
      return { error: String(err) };
    }
  }, { path, init });
}

const browser = await launch();
try {
  // 1. The conformance table through the module in the Service Worker.
  const good = await browser.newContext();
  const { page, reports, logs, inlineRan } = await install(good, { routes: ["/api/", "/bad/", "/call/"], keys: [cfg.key] });
  const results = await page.evaluate(async (cases) => {
    const b64 = (bytes) => btoa(String.fromCharCode(...bytes));
    const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
    const out = [];
    for (const c of cases) {
      const init = { method: c.method, headers: c.headers || {} };
      if (c.body_base64) init.body = unb64(c.body_base64);
      const r = await fetch(c.path, init);
      const headers = {};
      for (const k of Object.keys(c.expect.headers || {})) headers[k] = r.headers.get(k) ?? "";
      const body = new Uint8Array(await r.arrayBuffer());
      out.push({ name: c.name, status: r.status, headers, body_base64: b64(body), host: r.headers.get("X-Nanoedge-Host") });
    }
    return out;
  }, cfg.cases);
  // Warm requests: sequential round trips answered by the module.
  // Warm requests: sequential round trips answered by the module, and the
  // same handler through the worker over the network, for comparison.
  const timeFetches = (prefix) => page.evaluate(async (prefix) => {
    const n = 200;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await (await fetch(`${prefix}warm/${i}`)).arrayBuffer();
    return (performance.now() - t0) / n;
  }, prefix);
  const warm = await timeFetches("/api/");
  const viaWorker = await timeFetches("/plain/");

  // A guest that exits answers 500; its instance is replaced, not reused.
  const recycle = await page.evaluate(async () => {
    const count = async () => (await (await fetch("/bad/count")).text()).trim();
    const before = [await count(), await count()];
    const exit = await fetch("/bad/exit");
    const after = await count();
    // A handler that calls out is stopped and its request goes to the
    // network, where the worker answers under the route's policy (this
    // route allows no calls); a flushed response comes whole.
    const out = await fetch("/call/fetch?url=" + encodeURIComponent("http://origin.invalid/"));
    const stream = await fetch("/bad/stream?n=2");
    return { before, exit: exit.status, exitHost: exit.headers.get("X-Nanoedge-Host"), after,
      outbound: { status: out.status, host: out.headers.get("X-Nanoedge-Host"), body: await out.text() },
      stream: { status: stream.status, host: stream.headers.get("X-Nanoedge-Host"), body: await stream.text() } };
  });

  // 2. Bytes that are not what was signed are refused; requests go to the network.
  const tampered = await install(await browser.newContext(), { routes: ["/api/"], keys: [cfg.key], moduleURLs: { "/api/": cfg.tamperURL } });
  const tamperedProbe = await probe(tampered.page, "/api/items");

  // 3. A module signed by a key the page does not trust is refused too.
  const untrusted = await install(await browser.newContext(), { routes: ["/api/"], keys: [cfg.otherKey] });
  const untrustedProbe = await probe(untrusted.page, "/api/items");

  // 4. A key in another form (SPKI DER, say, or cut short) is refused
  // by register, naming the key, instead of trusting nothing silently.
  const malformed = await page.evaluate(async (keys) => {
    const sdk = await import("/.nanoedge/browser/register.js");
    const out = [];
    for (const k of keys) {
      try {
        await sdk.register({ routes: ["/api/"], keys: [k] });
        out.push("accepted");
      } catch (err) {
        out.push(String(err.message));
      }
    }
    return out;
  }, ["MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=", "ed25519:AAAA", "ed25519:not base64!"]);

  console.log(JSON.stringify({ phase: "online", malformed, reports, recycle, results, warmMs: warm, networkMs: viaWorker, tampered: { reports: tampered.reports, probe: tamperedProbe },
    untrusted: { reports: untrusted.reports, probe: untrustedProbe }, logs, inlineRan }));

  // 5. With the worker gone, the module still answers; the network does not.
  const rl = createInterface({ input: process.stdin });
  await new Promise((resolve) => rl.once("line", resolve));
  const offline = await probe(page, "/api/offline?x=1", { method: "POST", body: "still here" });
  const network = await probe(page, "/plain/x");
  console.log(JSON.stringify({ phase: "offline", offline, network }));
  rl.close();
} finally {
  await browser.close();
}
