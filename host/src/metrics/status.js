// The status page's script; served as /status.js, as the page's CSP allows no
// inline script. It builds the DOM from text nodes only, so no name, path,
// config value or reason can become markup.
"use strict";
const colors = { published: "#1f6feb", read: "#8250df", dead_lettered: "#cf222e" };
const ns = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(ns, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// A moment as `2026-12-07 20:58:21 UTC`.
function when(ms) {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

function duration(seconds) {
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds / 3600) % 24;
  const m = Math.floor(seconds / 60) % 60, s = Math.floor(seconds % 60);
  return [[d, "d"], [h, "h"], [m, "min"]].filter(([n]) => n).map(([n, u]) => `${n} ${u}`).concat(`${s} s`).join(" ");
}

// Rates per second over the last `kept` samples, newest at the right edge:
// a y axis of rates, an x axis of minutes ago, and a legend.
function chart(rates, kept, sampleSeconds) {
  const w = 560, h = 170, left = 52, right = 10, top = 26, bottom = 28;
  const pw = w - left - right, ph = h - top - bottom;
  const svg = svgEl("svg", { class: "chart", width: w, height: h, viewBox: `0 0 ${w} ${h}` });
  const max = Math.max(1, ...rates.flatMap(r => [r.published, r.read, r.dead_lettered]));
  const y = (v) => top + ph - (v / max) * ph;
  const axes = svgEl("g", { class: "axes", stroke: "#888" });
  axes.append(svgEl("line", { x1: left, y1: top, x2: left, y2: top + ph }));
  axes.append(svgEl("line", { x1: left, y1: top + ph, x2: left + pw, y2: top + ph }));
  svg.append(axes);
  for (const v of [0, max / 2, max]) {
    svg.append(svgEl("text", { class: "y-tick", x: left - 4, y: y(v) + 4, "text-anchor": "end", "font-size": 10 },
      v >= 100 ? v.toFixed(0) : v.toFixed(1)));
  }
  svg.append(svgEl("text", { class: "y-label", x: 4, y: 12, "font-size": 10 }, "records/s"));
  const minutes = (sampleSeconds * Math.max(kept - 1, 1)) / 60;
  for (const frac of [0, 0.5, 1]) {
    const ago = Math.round(minutes * (1 - frac));
    svg.append(svgEl("text", { class: "x-tick", x: left + frac * pw, y: h - 12, "text-anchor": "middle", "font-size": 10 },
      ago ? `-${ago} min` : "now"));
  }
  const step = pw / Math.max(kept - 1, 1);
  const x = (i) => left + pw - (rates.length - 1 - i) * step;
  const legend = svgEl("g", { class: "legend" });
  Object.keys(colors).forEach((series, n) => {
    const points = rates.map((r, i) => `${x(i).toFixed(1)},${y(r[series]).toFixed(1)}`);
    svg.append(svgEl("polyline", { points: points.join(" "), fill: "none", stroke: colors[series], "stroke-width": 2 }));
    const lx = left + 10 + n * 150;
    legend.append(svgEl("rect", { x: lx, y: 6, width: 12, height: 4, fill: colors[series] }));
    legend.append(svgEl("text", { class: `series-${series}`, x: lx + 16, y: 12, "font-size": 11 },
      `${series.replace("_", "-")}/s`));
  });
  svg.append(legend);
  return svg;
}

function state(p) {
  const phase = p.phase || { state: "running" };
  if (phase.state === "failed") return el("span", { class: "phase failed" }, `stopped, failed: ${phase.why}`);
  if (phase.state === "stopped") return el("span", { class: "phase stopped" }, `stopped: ${phase.why}`);
  return p.ready
    ? el("span", { class: "ready" }, "ready")
    : el("span", { class: "not-ready" }, "not ready: " + p.problems.join("; "));
}

function facts(p, version) {
  const c = p.counts, a = p.about;
  const dead = Object.values(c.dead_lettered).reduce((x, y) => x + y, 0);
  const config = el("ul", { class: "transform-config" },
    ...a.transform_config.map(([k, v]) => el("li", {}, el("code", {}, k), " = ", el("code", {}, v))));
  const list = [
    ["version", el("span", { class: "version" }, version)],
    ["uptime", el("span", { class: "uptime" }, duration(p.uptime_seconds))],
    ["delivery", el("span", { class: "delivery" }, a.delivery)],
    ["transform", el("span", { class: "transform" }, a.transform)],
    ["transform config", a.transform_config.length ? config : "none"],
    ["Kafka servers", el("span", { class: "kafka-servers" }, a.kafka_servers)],
    ["topic", el("span", { class: "topic" }, p.topic)],
    ["landing zone", el("span", { class: "landing-zone" }, p.landing_zone)],
    ["last published", el("span", { class: "last-published" },
      p.last_published_at_ms ? when(p.last_published_at_ms) : "nothing yet")],
    ["published", el("span", { class: "published" }, String(c.published))],
    ["filtered", String(c.filtered)],
    ["dead-lettered", String(dead)],
    ["records read", String(c.records_read)],
    ["files found / finished", el("span", { class: "files" }, `${c.files_found} / ${c.files_finished}`)],
    ["backlog", `${p.backlog_bytes} bytes`],
    ["in flight", String(p.records_in_flight)],
    ["since last ack", `${p.seconds_since_last_ack.toFixed(1)} s`],
  ];
  if (p.owned_partitions) list.push(["partitions owned", p.owned_partitions.join(", ") || "none yet"]);
  const dl = el("dl");
  for (const [k, v] of list) dl.append(el("dt", {}, k), el("dd", {}, v));
  return dl;
}

function pipeline(p, status) {
  const files = el("table", { class: "files" }, el("tr", {}, el("th", {}, "file"), el("th", {}, "read")));
  for (const f of p.files) {
    const bar = el("progress", { max: Math.max(f.size, 1), value: f.read });
    files.append(el("tr", {}, el("td", {}, f.path), el("td", {}, bar, ` ${f.read} / ${f.size} bytes`)));
  }
  const letters = el("table", { class: "dead-letters" },
    el("tr", {}, el("th", {}, "time"), el("th", {}, "reason"), el("th", {}, "where"), el("th", {}, "detail")));
  for (const d of p.dead_letters.slice().reverse()) {
    letters.append(el("tr", {}, el("td", { class: "time" }, when(d.at_ms)), el("td", {}, d.reason),
      el("td", { class: "where" }, `${d.file}:${d.line}`), el("td", {}, d.detail)));
  }
  const minutes = Math.round(status.sample_seconds * status.samples_kept / 60);
  return el("section", { class: "pipeline", "data-name": p.name },
    el("h2", {}, el("span", { class: "name" }, p.name), " — ", state(p)),
    facts(p, status.version),
    el("h3", {}, `Rates per second (last ${minutes} minutes)`), chart(p.rates, status.samples_kept, status.sample_seconds),
    el("h3", {}, `Files in progress (${p.files_in_progress})`), p.files.length ? files : "none",
    el("h3", {}, "Last dead letters"), p.dead_letters.length ? letters : "none");
}

function summary(status) {
  const n = status.pipelines.length;
  const failed = status.pipelines.filter(p => p.phase && p.phase.state === "failed").length;
  const stopped = status.pipelines.filter(p => p.phase && p.phase.state === "stopped").length;
  const counts = el("span", { class: failed ? "counts not-ready" : "counts" },
    `${n} pipeline${n === 1 ? "" : "s"}, ${failed} failed` + (stopped ? `, ${stopped} stopped` : ""));
  const uptime = Math.max(0, (status.generated_at_ms - status.started_at_ms) / 1000);
  return [counts, ` · sluice ${status.version} · up ${duration(uptime)} · updated `,
    el("span", { class: "updated" }, when(status.generated_at_ms))];
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
    document.getElementById("summary").replaceChildren(...summary(status));
    document.getElementById("pipelines").replaceChildren(...status.pipelines.map(p => pipeline(p, status)));
    document.body.dataset.updated = Date.now();
  } catch (e) {
    document.getElementById("pipelines").prepend(el("p", { class: "not-ready" }, "cannot reach sluice: " + e));
  }
}
refresh();
setInterval(refresh, 2000);
