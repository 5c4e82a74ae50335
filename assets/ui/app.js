// churn retention desk: a form built from the model's own schema (GET /model), scored by the
// public API (POST /predict). Nothing here is private to the UI: every call is one a client
// can make, and the "Use via API" box shows it.
"use strict";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v);
  }
  for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
  return e;
};
const pct = (p) => (100 * p).toFixed(1) + "%";
const signed = (x) => (x >= 0 ? "+" : "−") + Math.abs(x).toFixed(1);

let card = null;      // GET /model
let lastCsv = null;   // the file last scored, for the download

async function api(path, opts = {}) {
  const res = await fetch(path, opts);
  const type = res.headers.get("content-type") || "";
  const body = type.includes("application/json") ? await res.json() : await res.text();
  return { ok: res.ok, status: res.status, body };
}

// ---------------------------------------------------------------- the form, from the schema
function fieldId(name) { return "f-" + name.replace(/[^A-Za-z0-9_-]/g, "_"); }

function buildForm() {
  const box = $("#fields");
  box.replaceChildren();
  const inputs = card.inputs.slice();
  if (card.id_column) inputs.unshift({ name: card.id_column, label: "Customer ID (optional)", kind: "id" });
  for (const f of inputs) {
    const id = fieldId(f.name);
    let control;
    if (f.kind === "categorical") {
      control = el("select", { id, name: f.name }, ...f.values.map((v) => el("option", { value: v, text: v })));
      control.value = f.default;
    } else if (f.kind === "id") {
      control = el("input", { id, name: f.name, type: "text", autocomplete: "off", placeholder: "e.g. 7590-VHVEG" });
    } else if (f.kind === "date") {
      control = el("input", { id, name: f.name, type: "date" });
      control.value = f.default || "";
    } else {
      control = el("input", {
        id, name: f.name, type: "number", inputmode: f.integer ? "numeric" : "decimal",
        step: f.integer ? "1" : "any", min: f.min ?? undefined, max: f.max ?? undefined,
      });
      control.value = f.default;
      const bounds = [f.min != null ? "min " + f.min : null, f.max != null ? "max " + f.max : null].filter(Boolean).join(", ");
      if (bounds) control.title = bounds;
    }
    control.addEventListener("input", () => { clearFieldError(f.name); updateCurl(); });
    box.append(el("div", { class: "field", "data-field": f.name },
      el("label", { for: id, text: f.label || f.name }), control, el("small", { class: "err", id: id + "-err" })));
  }
}

function collect() {
  const customer = {};
  if (card.id_column) {
    const v = $("#" + fieldId(card.id_column)).value.trim();
    if (v) customer[card.id_column] = v;
  }
  for (const f of card.inputs) {
    const v = $("#" + fieldId(f.name)).value;
    if (f.kind === "categorical" || f.kind === "date") customer[f.name] = v;
    else if (v.trim() === "") customer[f.name] = "";
    else customer[f.name] = Number.isFinite(Number(v)) ? Number(v) : v;
  }
  return customer;
}

function fill(customer) {
  for (const [k, v] of Object.entries(customer)) {
    const input = document.getElementById(fieldId(k));
    if (input) input.value = v === null ? "" : v;
  }
  clearErrors();
  updateCurl();
}

function clearFieldError(name) {
  const wrap = document.querySelector(`.field[data-field="${CSS.escape(name)}"]`);
  if (!wrap) return;
  wrap.classList.remove("invalid");
  wrap.querySelector("input,select").removeAttribute("aria-invalid");
  wrap.querySelector(".err").textContent = "";
}

function clearErrors() {
  for (const f of document.querySelectorAll(".field")) clearFieldError(f.dataset.field);
  $("#form-error").hidden = true;
}

// An API error shown where it belongs: each field's problem under the field.
function showErrors(err) {
  const general = [];
  for (const p of err.errors || []) {
    const wrap = p.field && document.querySelector(`.field[data-field="${CSS.escape(p.field)}"]`);
    if (!wrap) { general.push(p.message); continue; }
    wrap.classList.add("invalid");
    wrap.querySelector("input,select").setAttribute("aria-invalid", "true");
    let text = p.message.replace(/^`[^`]*`: /, "");
    wrap.querySelector(".err").textContent = text.charAt(0).toUpperCase() + text.slice(1);
  }
  if (!err.errors || general.length) {
    const banner = $("#form-error");
    banner.textContent = general.length ? general.join(" · ") : err.message || "The request failed.";
    banner.hidden = false;
  }
  const first = document.querySelector(".field.invalid input, .field.invalid select");
  if (first) first.focus();
}

function updateCurl() {
  const body = JSON.stringify(collect());
  $("#curl-cmd").textContent =
    `curl -X POST '${location.origin}/predict' -H 'Content-Type: application/json' -d '${body.replace(/'/g, "'\\''")}'`;
}

// ---------------------------------------------------------------- one customer
async function predict(ev) {
  if (ev) ev.preventDefault();
  clearErrors();
  const btn = $("#predict-btn");
  btn.disabled = true;
  try {
    const r = await api("/predict?reasons=8", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(collect()),
    });
    if (!r.ok) { showErrors(r.body); return; }
    renderResult(r.body);
  } catch (e) {
    showErrors({ message: "The server could not be reached: " + e.message });
  } finally {
    btn.disabled = false;
  }
}

function renderResult(p) {
  $("#result-empty").hidden = true;
  $("#result").hidden = false;
  $("#gauge-fill").style.width = pct(p.churn_probability);
  $("#gauge-fill").style.background = p.churn ? "var(--risk)" : "var(--safe)";
  $("#gauge-threshold").style.left = pct(p.threshold);
  $("#probability").textContent = pct(p.churn_probability);
  const label = $("#label");
  label.textContent = p.churn ? "Likely to churn" : "Likely to stay";
  label.className = "label " + (p.churn ? "churn" : "stay");
  const band = $("#band");
  band.textContent = p.risk_band + " risk" + (p.risk_decile ? " · decile " + p.risk_decile : "");
  band.className = "band " + p.risk_band;
  $("#verdict-detail").textContent = `Threshold ${pct(p.threshold)}: customers at or above it get a retention offer (answer "${p.label}").`;
  $("#base-line").textContent = `An average customer scores ${pct(p.base_probability)}; these fields move this one to ${pct(p.churn_probability)}.`;
  const list = $("#reasons");
  list.replaceChildren();
  const max = Math.max(1, ...p.reasons.map((r) => Math.abs(r.points)));
  for (const r of p.reasons) {
    const width = (50 * Math.abs(r.points)) / max + "%";
    list.append(el("li", { "data-field": r.field },
      el("span", { text: `${r.label}: ${r.value}` }),
      el("span", { class: "bar-track" }, el("span", { class: "bar " + r.direction, style: "width:" + width })),
      el("span", { class: "pts " + r.direction, text: signed(r.points) + " pts" })));
  }
}

// ---------------------------------------------------------------- a whole file
let batchRows = [];
let sortKey = "p", sortDir = -1;

async function scoreFile() {
  const file = $("#batch-file").files[0];
  $("#batch-error").hidden = true;
  if (!file) { $("#batch-error").textContent = "Choose a CSV file first."; $("#batch-error").hidden = false; return; }
  lastCsv = await file.text();
  const btn = $("#batch-btn");
  btn.disabled = true;
  try {
    const r = await api("/predict?reasons=1", { method: "POST", headers: { "Content-Type": "text/csv" }, body: lastCsv });
    if (!r.ok) {
      const msg = (r.body && r.body.message) || "The file could not be scored.";
      $("#batch-error").textContent = msg;
      $("#batch-error").hidden = false;
      return;
    }
    batchRows = r.body.predictions.map((p) => ({
      id: p[card.id_column || "customerID"] || "", line: p.line, p: p.churn_probability, label: p.label,
      band: p.risk_band, reason: p.reasons && p.reasons[0] ? `${p.reasons[0].label}: ${p.reasons[0].value} (${signed(p.reasons[0].points)})` : "",
    }));
    const s = $("#batch-summary");
    s.textContent = `${r.body.rows} rows · ${r.body.scored} scored · ${r.body.rejected} rejected · ` +
      `${batchRows.filter((x) => x.band === "high").length} high risk`;
    s.hidden = false;
    const errs = $("#batch-errors");
    errs.replaceChildren(...(r.body.errors || []).map((e) => el("li", { text: (e.line ? `line ${e.line}: ` : "") + e.message })));
    renderTable();
    $("#download-btn").disabled = false;
  } finally {
    btn.disabled = false;
  }
}

function renderTable() {
  const t = $("#batch-table");
  t.hidden = false;
  const rows = batchRows.slice().sort((a, b) => (a[sortKey] > b[sortKey] ? 1 : a[sortKey] < b[sortKey] ? -1 : 0) * sortDir);
  t.tBodies[0].replaceChildren(...rows.map((r) => el("tr", {},
    el("td", { text: r.id }), el("td", { class: "num", text: r.line }), el("td", { class: "num", text: pct(r.p) }),
    el("td", { text: r.label }), el("td", {}, el("span", { class: "band " + r.band, text: r.band })), el("td", { text: r.reason }))));
  for (const th of t.tHead.rows[0].cells) {
    th.classList.toggle("sorted", th.dataset.key === sortKey);
    th.classList.toggle("asc", th.dataset.key === sortKey && sortDir === 1);
    th.classList.toggle("desc", th.dataset.key === sortKey && sortDir === -1);
  }
}

async function download() {
  if (!lastCsv) return;
  const res = await fetch("/predict?reasons=3", { method: "POST", headers: { "Content-Type": "text/csv", Accept: "text/csv" }, body: lastCsv });
  const blob = await res.blob();
  const a = el("a", { href: URL.createObjectURL(blob), download: "scored.csv" });
  document.body.append(a);
  a.click();
  a.remove();
}

// ---------------------------------------------------------------- the model card
function renderCard() {
  const m = card.model;
  $("#model-chip").textContent = `${m.name}${m.version ? " v" + m.version : ""} · ${m.trees} trees · threshold ${pct(m.threshold)}`;
  $("#model-chip").classList.remove("muted");
  if (card.report) $("#report-link").hidden = false;
  const facts = [
    ["Name", m.name], ["Version", m.version || "–"], ["Model URI", m.uri], ["Run id", m.run_id || "–"],
    ["Trained", card.trained_at || "–"], ["Threshold", `${pct(m.threshold)} (${card.policy || "default 50%"})`],
    ["Training rows", card.data ? `${card.data.train_rows} (+${card.data.held_out_rows} held out)` : "–"],
    ["Inputs", `${card.inputs.length} fields → ${m.features} model columns`], ["Loaded", m.loaded_at],
  ];
  $("#model-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v) })]));
  const metrics = card.held_out ? [["ROC AUC", card.held_out.roc_auc], ["PR AUC", card.held_out.pr_auc], ["Log loss", card.held_out.log_loss],
    ["Brier", card.held_out.brier], ["Accuracy", card.held_out.accuracy], ["F1", card.held_out.f1],
    ["Precision", card.held_out.precision], ["Recall", card.held_out.recall]] : [];
  $("#metrics-table").tBodies[0].replaceChildren(...(metrics.length ? metrics.map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { class: "num", text: v.toFixed(4) })))
    : [el("tr", {}, el("td", { text: "No evaluation in this model bundle." }))]));
  const lift = card.lift || [];
  const maxLift = Math.max(1, ...lift.map((r) => r.lift));
  $("#lift-table").tBodies[0].replaceChildren(...lift.map((r) => el("tr", {},
    el("td", { text: r.decile }), el("td", { class: "num", text: pct(r.churn_rate) }),
    el("td", { class: "num" }, r.lift.toFixed(2) + "×", el("span", { class: "lift-bar", style: `width:${(40 * r.lift) / maxLift}px` })),
    el("td", { class: "num", text: pct(r.cumulative_gain) }))));
  const ex = $("#examples");
  ex.replaceChildren(...(card.examples || []).map((e) => {
    const b = el("button", { type: "button", class: "ghost small", text: e.title });
    b.addEventListener("click", () => { fill(e.customer); predict(); });
    return b;
  }));
}

async function init() {
  const r = await api("/model");
  if (!r.ok) { $("#model-chip").textContent = "model unavailable"; return; }
  card = r.body;
  buildForm();
  renderCard();
  updateCurl();
  $("#customer-form").addEventListener("submit", predict);
  $("#reset-btn").addEventListener("click", () => { buildForm(); clearErrors(); updateCurl(); });
  $("#copy-curl").addEventListener("click", () => navigator.clipboard && navigator.clipboard.writeText($("#curl-cmd").textContent));
  $("#batch-btn").addEventListener("click", scoreFile);
  $("#download-btn").addEventListener("click", download);
  for (const th of $("#batch-table").tHead.rows[0].cells) {
    if (!th.dataset.key) continue;
    th.addEventListener("click", () => {
      sortDir = th.dataset.key === sortKey ? -sortDir : (th.dataset.key === "p" ? -1 : 1);
      sortKey = th.dataset.key;
      renderTable();
    });
  }
  document.body.dataset.ready = "true";
}

init();
