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
    tr.append(cell(v.route), cell(`${v.module}@${short(v.digest)}`), cell(`${v.weight}%`, "num"),
      cell(v.rps.toFixed(1), "num rps"), cell(`${(100 * v.error_rate).toFixed(2)}%`, "num"), cell(p99(v.p99_ms), "num"),
      cell(String(v.traps), "num"), cell(String(v.timeouts), "num"));
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
