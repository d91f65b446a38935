// The fleet dashboard: polls /api/overview with the operator's token and
// renders it. No build step, no dependencies.

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);

function token() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem("nanoedge-token", fromHash);
    history.replaceState(null, "", location.pathname); // keep it out of the address bar
  }
  return sessionStorage.getItem("nanoedge-token");
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function rows(tbody, items, render) {
  tbody.replaceChildren(...items.map((item) => {
    const tr = document.createElement("tr");
    render(item, tr);
    return tr;
  }));
}

const short = (digest) => digest.replace("sha256:", "").slice(0, 12);
const secs = (s) => (s < 120 ? `${Math.round(s)}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`);
const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`;
const p99 = (ms) => (ms < 0 ? "slow" : ms === 0 ? "-" : `≤${ms} ms`);

// Series colours, in version order; canary and baseline keep theirs.
const COLORS = ["#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#cf222e"];
const ROLE_COLORS = { baseline: "#0969da", canary: "#cf222e" };
const SVG = "http://www.w3.org/2000/svg";

function svgEl(name, attrs) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

// chart draws one metric of a route's versions over their history as an
// SVG line chart (no inline styles: the page's CSP forbids them).
function chart(route, metric, title, versions, value, format) {
  const W = 320, H = 110, PAD = 4;
  const fig = document.createElement("figure");
  const cap = document.createElement("figcaption");
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img" });
  svg.dataset.testid = "chart";
  svg.dataset.route = route;
  svg.dataset.metric = metric;
  // The canary last, so it is drawn over the baseline where they meet.
  const series = versions.map((v, i) => ({ ...v, color: ROLE_COLORS[v.role] || COLORS[i % COLORS.length] }))
    .filter((v) => (v.history || []).length > 0)
    .sort((a, b) => (a.role === "canary") - (b.role === "canary"));
  const all = series.flatMap((v) => v.history.map(value));
  const top = Math.max(...all, 0) || 1;
  cap.textContent = `${title} (max ${format(Math.max(...all, 0))})`;
  svg.append(svgEl("rect", { x: 0, y: 0, width: W, height: H, fill: "#f6f8fa" }));
  for (const f of [0.25, 0.5, 0.75]) {
    svg.append(svgEl("line", { x1: 0, x2: W, y1: H * f, y2: H * f, stroke: "#d0d7de", "stroke-width": 1 }));
  }
  let drawn = 0;
  series.forEach((v) => {
    const n = v.history.length;
    const pts = v.history.map((p, j) => {
      const x = n === 1 ? W / 2 : PAD + (j * (W - 2 * PAD)) / (n - 1);
      const y = H - PAD - (value(p) / top) * (H - 2 * PAD);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    });
    const line = svgEl("polyline", {
      points: pts.join(" "), fill: "none", "stroke-width": 2.5, "stroke-linejoin": "round",
      stroke: v.color,
    });
    line.dataset.version = `${v.module}@${short(v.digest)}`;
    svg.append(line);
    drawn += n;
  });
  svg.dataset.points = String(drawn);
  fig.append(cap, svg);
  return fig;
}

function legend(versions) {
  const ul = document.createElement("ul");
  ul.className = "legend";
  versions.forEach((v, i) => {
    const li = document.createElement("li");
    const swatch = svgEl("svg", { width: 12, height: 12 });
    swatch.append(svgEl("rect", { width: 12, height: 12, fill: ROLE_COLORS[v.role] || COLORS[i % COLORS.length] }));
    const what = v.source === "rule" ? "by rule" : `${v.weight}%`;
    li.append(swatch, ` ${v.module}@${short(v.digest)} — ${what}${v.role ? ` (${v.role})` : ""}`);
    ul.append(li);
  });
  return ul;
}

function routeCard(r, stepS) {
  const card = document.createElement("article");
  card.className = "route";
  card.dataset.route = r.route;
  const h = document.createElement("h3");
  h.textContent = r.route;
  card.append(h);
  const facts = [];
  const split = r.versions.filter((v) => v.source === "split");
  facts.push(split.length > 1 ? `split ${split.map((v) => `${v.weight}% ${v.module}@${short(v.digest)}`).join(", ")}` : `all to ${split[0] ? `${split[0].module}@${short(split[0].digest)}` : "-"}`);
  if (r.sticky) facts.push(`sticky by ${r.sticky}`);
  for (const o of r.options || []) facts.push(o);
  const p = document.createElement("p");
  p.textContent = facts.join(" · ");
  card.append(p);
  if ((r.rules || []).length > 0) {
    const ol = document.createElement("ol");
    ol.className = "rules";
    ol.dataset.testid = "rules";
    for (const rl of r.rules) {
      const li = document.createElement("li");
      li.textContent = `${rl.match} → ${rl.module.split("@")[0]}@${short(rl.module.split("@")[1] || "")}`;
      ol.append(li);
    }
    card.append(ol);
  }
  card.append(legend(r.versions));
  const charts = document.createElement("div");
  charts.className = "charts";
  charts.append(
    chart(r.route, "rps", "req/s", r.versions, (p) => p.rps, (x) => x.toFixed(1)),
    chart(r.route, "errors", "5xx %", r.versions, (p) => 100 * p.error_rate, (x) => `${x.toFixed(1)}%`),
    chart(r.route, "p99", "p99 ms", r.versions, (p) => Math.max(p.p99_ms, 0), (x) => `${x} ms`),
  );
  card.append(charts);
  const note = document.createElement("small");
  note.textContent = `last ${Math.round(((r.versions[0]?.history || []).length * stepS) / 60)} min, ${stepS} s steps, all workers`;
  card.append(note);
  return card;
}

function render(ov) {
  $("revision").textContent = `revision ${ov.revision}`;
  rows($("members"), ov.members || [], (m, tr) => {
    tr.dataset.node = m.id;
    tr.append(cell(m.id), cell(m.addr), cell(m.leader ? "leader" : m.voter ? "follower" : "non-voter"));
  });
  const shown = (ov.workers || []).length;
  $("workers-total").textContent = ov.workers_total > shown ? `${shown} of ${ov.workers_total}, most recently seen` : "";
  rows($("workers"), ov.workers || [], (w, tr) => {
    tr.dataset.worker = w.id;
    tr.append(cell(w.id), cell(w.version || "-"), cell(String(w.revision), "num"), cell(secs(w.uptime_s), "num"),
      cell(String(w.modules), "num"), cell(String(w.instances), "num"), cell(mib(w.memory_bytes), "num"),
      cell(`${secs(w.last_seen_s)} ago`, "num"));
  });
  const versions = (ov.routes || []).flatMap((r) => r.versions.map((v) => ({ route: r.route, ...v })));
  rows($("routes"), versions, (v, tr) => {
    tr.dataset.route = v.route;
    tr.dataset.rps = v.rps.toFixed(1);
    if (v.error_rate > 0.01) tr.className = "bad";
    tr.append(cell(v.route), cell(`${v.module}@${short(v.digest)}`), cell(v.source === "rule" ? "rule" : `${v.weight}%`, "num"),
      cell(v.rps.toFixed(1), "num rps"), cell(`${(100 * v.error_rate).toFixed(2)}%`, "num"), cell(p99(v.p99_ms), "num"),
      cell(String(v.traps), "num"), cell(String(v.timeouts), "num"));
  });
  $("history").replaceChildren(...(ov.routes || []).map((r) => routeCard(r, ov.history_step_s)));
  rows($("flags"), ov.flags || [], (f, tr) => {
    tr.dataset.flag = f.name;
    tr.append(cell(f.name), cell(f.enabled ? "on" : "off", f.enabled ? "on" : "off"), cell((f.routes || []).join(", ") || "-"), cell(f.description || ""));
  });
  rows($("rollouts"), ov.rollouts || [], (ro, tr) => {
    tr.dataset.route = ro.route;
    tr.append(cell(ro.route), cell(`${ro.module.split("@")[0]}@${short(ro.module.split("@")[1] || "")}`),
      cell(`${ro.steps[ro.step]}% (${ro.step + 1}/${ro.steps.length})`), cell(ro.state.toLowerCase()), cell(ro.reason || ""));
  });
}

async function poll() {
  const t = token();
  if (!t) {
    $("login").hidden = false;
    $("status").textContent = "a token is needed";
    return;
  }
  try {
    const resp = await fetch("api/overview", { headers: { Authorization: `Bearer ${t}` }, cache: "no-store" });
    if (resp.status === 401 || resp.status === 403) {
      sessionStorage.removeItem("nanoedge-token");
      $("login").hidden = false;
      throw new Error((await resp.text()).trim());
    }
    if (!resp.ok) throw new Error((await resp.text()).trim() || resp.statusText);
    render(await resp.json());
    $("fleet").hidden = false;
    $("login").hidden = true;
    $("status").className = "";
    $("status").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    $("status").className = "error";
    $("status").textContent = err.message;
  }
  setTimeout(poll, POLL_MS);
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem("nanoedge-token", $("token").value.trim());
  poll();
});

poll();
