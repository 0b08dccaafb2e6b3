// hil watch page: poll /api/snapshot, replace (never append) the shown data.
"use strict";
const POLL_MS = 1000;
const PLOT_MS = 5000;
let version = "";
let lastPlot = 0;

function text(id, value) { document.getElementById(id).textContent = value; }
function fmt(x, digits = 4) { return x === null || x === undefined ? "–" : Number(x).toPrecision(digits); }
function duration(s) {
  if (s === null || s === undefined) return "–";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h} h ${m} min` : m ? `${m} min ${r} s` : `${r} s`;
}

function ensureCard(view) {
  let div = document.getElementById("view-" + view.id);
  if (!div) {
    const card = document.createElement("div");
    card.className = "card";
    card.innerHTML = `<h2 id="title-${view.id}"></h2><div class="plot" id="view-${view.id}"></div>`;
    document.getElementById("views").appendChild(card);
    div = document.getElementById("view-" + view.id);
  }
  return div;
}

function render(d) {
  text("file", d.file || "");
  const st = document.getElementById("status");
  st.textContent = d.status || "unknown";
  st.className = "badge " + (d.status || "unknown");
  text("protocol", d.protocol || "");
  const n = d.n_steps, step = d.step;
  text("step", n ? `${step + 1} / ${n}` : `${step + 1}`);
  const frac = n ? Math.max(0, Math.min(1, (step + 1) / n)) : (d.status === "complete" ? 1 : 0);
  document.getElementById("progress").value = frac;
  text("progress-text", n ? `${(100 * frac).toFixed(1)} %` : "–");
  text("eta", d.status === "running" ? duration(d.eta_s) : "–");
  text("n-events", d.n_events ?? "–");
  text("n-maps", d.n_maps ?? "–");
  text("last-g", fmt(d.last_G_uS));
  text("message", d.message || "");
  text("read-error", d.read_error ? "reading the file: " + d.read_error : "");
  text("updated", "updated " + new Date().toLocaleTimeString());
  for (const view of d.views || []) {
    const div = ensureCard(view);
    text("title-" + view.id, view.title);
    const layout = Object.assign({ margin: { l: 60, r: 20, t: 10, b: 45 }, showlegend: true,
                                   legend: { font: { size: 10 }, x: 0.01, y: 0.99, bgcolor: "rgba(255,255,255,0.7)" } }, view.layout || {});
    Plotly.react(div, view.traces, layout, { displaylogo: false, responsive: true });
  }
  const rows = (d.history || []).slice(-50).reverse().map(h =>
    `<tr><td>${h.utc ?? ""}</td><td>${h.kind ?? ""}</td><td>${h.step ?? ""}</td><td>${h.message ?? ""}</td></tr>`);
  document.getElementById("history").innerHTML = rows.join("") ||
    '<tr><td colspan="4">no history recorded in this file</td></tr>';
  const p = d.provenance || {};
  document.getElementById("provenance").textContent =
    `backend: ${p.backend}   device: ${p.device}   shape: ${(p.shape || []).join(" × ")}   seed: ${p.seed}\n` +
    `created: ${d.created_utc || ""}   finished: ${d.finished_utc || "–"}\n\nparameters:\n` +
    Object.entries(p.params || {}).map(([k, v]) => `  ${k} = ${JSON.stringify(v)}`).join("\n") +
    `\n\nstation:\n${p.station || ""}`;
  const now = Date.now();
  if (now - lastPlot > PLOT_MS || d.status !== "running") {
    lastPlot = now;
    const img = document.getElementById("std-plot");
    fetch("/api/plot.png?version=" + encodeURIComponent(d.version)).then(r => {
      if (!r.ok) { return r.text().then(t => { text("std-plot-note", t); }); }
      return r.blob().then(b => {
        const old = img.src;
        img.src = URL.createObjectURL(b);       // revoke the old image: memory stays flat
        if (old.startsWith("blob:")) URL.revokeObjectURL(old);
        text("std-plot-note", "");
      });
    }).catch(() => {});
  }
}

async function poll() {
  try {
    const r = await fetch("/api/snapshot?version=" + encodeURIComponent(version), { cache: "no-store" });
    if (r.status === 200) {
      const d = await r.json();
      version = d.version || "";
      render(d);
      document.body.dataset.version = version;
    }
  } catch (e) {
    text("read-error", "server not reachable: " + e);
  }
  setTimeout(poll, POLL_MS);
}
poll();
