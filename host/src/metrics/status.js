// The status page's script; served as /status.js, as the page's CSP allows no
// inline script. It builds the DOM from text nodes only.
"use strict";
const colors = { published: "#1f6feb", read: "#8250df", dead_lettered: "#cf222e" };

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

// The window is `kept` samples wide, newest at the right edge.
function chart(rates, kept) {
  const w = 480, h = 120, ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("width", w);
  svg.setAttribute("height", h);
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  const max = Math.max(1, ...rates.flatMap(r => [r.published, r.read, r.dead_lettered]));
  for (const series of Object.keys(colors)) {
    const step = w / Math.max(kept - 1, 1);
    const x = (i) => w - (rates.length - 1 - i) * step;
    const points = rates.map((r, i) => `${x(i).toFixed(1)},${(h - 4 - (r[series] / max) * (h - 8)).toFixed(1)}`);
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", points.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", colors[series]);
    line.setAttribute("stroke-width", "2");
    svg.append(line);
  }
  const label = document.createElementNS(ns, "text");
  label.setAttribute("x", 4);
  label.setAttribute("y", 14);
  label.setAttribute("font-size", 11);
  label.textContent = `max ${max.toFixed(1)}/s`;
  svg.append(label);
  return svg;
}

function pipeline(p, sampleSeconds, kept) {
  const c = p.counts;
  const dead = Object.values(c.dead_lettered).reduce((a, b) => a + b, 0);
  const state = p.ready
    ? el("span", { class: "ready" }, "ready")
    : el("span", { class: "not-ready" }, "not ready: " + p.problems.join("; "));
  const facts = [
    ["landing zone", el("span", { class: "landing-zone" }, p.landing_zone)],
    ["topic", el("span", { class: "topic" }, p.topic)],
    ["published", el("span", { class: "published" }, String(c.published))],
    ["filtered", String(c.filtered)],
    ["dead-lettered", String(dead)],
    ["records read", String(c.records_read)],
    ["files found / finished", `${c.files_found} / ${c.files_finished}`],
    ["backlog", `${p.backlog_bytes} bytes`],
    ["in flight", String(p.records_in_flight)],
    ["since last ack", `${p.seconds_since_last_ack.toFixed(1)} s`],
  ];
  if (p.owned_partitions) facts.push(["partitions owned", p.owned_partitions.join(", ") || "none yet"]);
  const dl = el("dl");
  for (const [k, v] of facts) dl.append(el("dt", {}, k), el("dd", {}, v));
  const legend = el("div", { class: "legend" },
    ...Object.keys(colors).map((k) => el("span", { class: `series-${k}` }, `— ${k.replace("_", "-")}/s`)));
  const files = el("table", { class: "files" }, el("tr", {}, el("th", {}, "file"), el("th", {}, "read")));
  for (const f of p.files) {
    const bar = el("progress", { max: Math.max(f.size, 1), value: f.read });
    files.append(el("tr", {}, el("td", {}, f.path), el("td", {}, bar, ` ${f.read} / ${f.size} bytes`)));
  }
  const letters = el("table", { class: "dead-letters" },
    el("tr", {}, el("th", {}, "reason"), el("th", {}, "where"), el("th", {}, "detail")));
  for (const d of p.dead_letters.slice().reverse()) {
    letters.append(el("tr", {}, el("td", {}, d.reason), el("td", {}, `${d.file}:${d.line}`), el("td", {}, d.detail)));
  }
  return el("section", { class: "pipeline", "data-name": p.name },
    el("h2", {}, el("span", { class: "name" }, p.name), " — ", state),
    dl,
    el("h3", {}, `Rates per second (last ${Math.round(sampleSeconds * kept / 60)} minutes)`), chart(p.rates, kept), legend,
    el("h3", {}, `Files in progress (${p.files_in_progress})`), p.files.length ? files : "none",
    el("h3", {}, "Last dead letters"), p.dead_letters.length ? letters : "none");
}

// With --metrics-token-file, open the page as `/#token=TOKEN`: the fragment
// never leaves the browser, and the token goes with each fetch.
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const headers = token ? { Authorization: `Bearer ${token}` } : {};

async function refresh() {
  try {
    const response = await fetch("status.json", { headers, cache: "no-store" });
    if (!response.ok) throw new Error(`status.json answered ${response.status}`);
    const status = await response.json();
    const root = document.getElementById("pipelines");
    root.replaceChildren(...status.pipelines.map(p => pipeline(p, status.sample_seconds, status.samples_kept)));
    document.body.dataset.updated = Date.now();
  } catch (e) {
    document.getElementById("pipelines").prepend(el("p", { class: "not-ready" }, "cannot reach sluice: " + e));
  }
}
refresh();
setInterval(refresh, 2000);
