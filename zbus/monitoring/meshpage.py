"""The dashboard's mesh panel: charts and a flow graph drawn as inline SVG from ``/api/mesh``.

Three pictures side by side (readable at 1280 x 800): events/s per topic over the window (one line per
topic, the busiest eight), delivery latency p50/p90/p99 over the window (every node's histogram
merged), and the nodes with the event flows between them (an arrow per publisher → subscriber pair,
line width growing with events/s). Below, one row per node of the mesh, like ``zbus top``. Drawn by
plain JavaScript with ``createElementNS`` (no library, no CDN); names from the network are set with
``textContent`` only. Stable hooks for tests and scripts: ``#chart-rates path.line[data-series]``,
``#chart-latency path.line[data-series]``, ``#graph circle.node[data-node]``,
``#graph line.edge[data-from][data-to][data-rate]``, ``#mesh-nodes tr[data-node]`` and
``body[data-mesh-polls]``.
"""

from __future__ import annotations

__all__ = ["MESH_CSS", "MESH_JS", "MESH_SECTION"]

MESH_CSS = """
.wide{grid-column:1/-1}section{overflow-x:auto}#peers td:nth-child(3){overflow-wrap:anywhere;font-size:12px}
.charts{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:12px}
figure{margin:0}figcaption{font-size:12px;color:#567;margin-bottom:4px}
svg.chart{width:100%;height:auto;background:#fbfcfd;border:1px solid #eee;border-radius:4px}
svg text{font:10px system-ui,sans-serif;fill:#567}svg .axis{stroke:#ccd}svg .grid{stroke:#eef}
svg path.line{fill:none;stroke-width:2}svg .empty{font-size:12px;fill:#99a}
svg line.edge{stroke:#1976d2;stroke-opacity:.55}svg circle.node{fill:#1d2330}
svg circle.node[data-stale=true]{fill:#aab}svg text.label{font-size:11px;fill:#1d2330}
.legend{font-size:11px;color:#456;display:flex;flex-wrap:wrap;gap:2px 10px;margin-top:3px}
.legend i{display:inline-block;width:10px;height:3px;margin-right:4px;vertical-align:middle}
"""

MESH_SECTION = """
<section class="wide"><h2>Mesh: <span id="mesh-count">0</span> node(s)
<span id="mesh-note" class="muted"></span></h2>
<div class="charts">
<figure><figcaption>Events/s per topic (published, whole mesh)</figcaption>
<svg id="chart-rates" class="chart" viewBox="0 0 400 190"></svg>
<div id="legend-rates" class="legend"></div></figure>
<figure><figcaption>Delivery latency, publish &rarr; handler (whole mesh)</figcaption>
<svg id="chart-latency" class="chart" viewBox="0 0 400 190"></svg>
<div id="legend-latency" class="legend"></div></figure>
<figure><figcaption>Nodes and event flows (arrow width = events/s)</figcaption>
<svg id="graph" class="chart" viewBox="0 0 400 190"></svg></figure>
</div>
<table id="mesh-nodes"><thead><tr><th>node</th><th>role</th><th>peers</th><th>pub/s</th><th>recv/s</th>
<th>lost</th><th>dropped</th><th>p50</th><th>p99</th><th>busiest topics</th><th>last heard</th></tr></thead>
<tbody></tbody></table></section>
"""

MESH_JS = r"""
const NS = "http://www.w3.org/2000/svg";
const COLORS = ["#1976d2", "#e65100", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#6d4c41", "#ad1457"];
let meshPolls = 0, lastMesh = null;
function svg(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}
function nice(max) { if (!(max > 0)) return 1; const p = Math.pow(10, Math.floor(Math.log10(max)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p; return 10 * p; }
function lineChart(box, legend, times, series, fmt) {
  const W = 400, H = 190, L = 46, R = 8, T = 8, B = 20;
  const names = Object.keys(series);
  const values = names.flatMap((n) => series[n]).filter((v) => v !== null && v !== undefined);
  const top = nice(Math.max(0, ...values));
  const parts = [];
  for (let i = 0; i <= 4; i++) {
    const y = T + (H - T - B) * (1 - i / 4);
    parts.push(svg("line", {x1: L, x2: W - R, y1: y, y2: y, class: i ? "grid" : "axis"}));
    parts.push(svg("text", {x: L - 4, y: y + 3, "text-anchor": "end"}, fmt(top * i / 4)));
  }
  const t0 = times[0], t1 = times[times.length - 1], span = Math.max(t1 - t0, 1e-9);
  const x = (t) => times.length < 2 ? W - R : L + (W - L - R) * (t - t0) / span;
  const y = (v) => T + (H - T - B) * (1 - v / top);
  if (times.length) {
    const ago = Date.now() / 1000 - t0;
    parts.push(svg("text", {x: L, y: H - 5}, ago < 120 ? "-" + Math.round(ago) + " s"
      : "-" + Math.round(ago / 6) / 10 + " min"));
    parts.push(svg("text", {x: W - R, y: H - 5, "text-anchor": "end"}, "now"));
  }
  const keys = [];
  names.forEach((name, i) => {
    let d = "", pen = "M";
    series[name].forEach((v, j) => {
      if (v === null || v === undefined) { pen = "M"; return; }
      d += pen + x(times[j]).toFixed(1) + "," + y(v).toFixed(1) + " "; pen = "L";
    });
    if (!d) return;
    const color = COLORS[i % COLORS.length];
    const path = svg("path", {d: d.trim(), class: "line", stroke: color});
    path.dataset.series = name;
    path.appendChild(svg("title", {}, name));
    parts.push(path);
    const key = document.createElement("span"), mark = document.createElement("i");
    mark.style.background = color; key.append(mark, name); keys.push(key);
  });
  if (!keys.length) parts.push(svg("text", {x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty"},
    "no data yet"));
  box.replaceChildren(...parts);
  legend.replaceChildren(...keys);
}
function flowGraph(box, nodes, edges) {
  const W = 400, H = 190, cx = W / 2, cy = H / 2, radius = Math.min(W, H) / 2 - 28, r = 9;
  const at = {};
  nodes.forEach((n, i) => { const a = -Math.PI / 2 + 2 * Math.PI * i / Math.max(nodes.length, 1);
    at[n.id] = nodes.length === 1 ? [cx, cy]
      : [cx + 1.6 * radius * Math.cos(a), cy + radius * Math.sin(a)]; });
  const defs = svg("defs");
  const marker = svg("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 12,
    markerHeight: 12, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse"});
  marker.appendChild(svg("path", {d: "M0,0 L10,5 L0,10 z", fill: "#1976d2"})); defs.appendChild(marker);
  const parts = [defs];
  const known = edges.filter((e) => at[e.from] && at[e.to]);
  const most = Math.max(0, ...known.map((e) => e.rate));
  for (const e of known) {
    const [x1, y1] = at[e.from], [x2, y2] = at[e.to], len = Math.hypot(x2 - x1, y2 - y1) || 1;
    const ux = (x2 - x1) / len, uy = (y2 - y1) / len;
    const width = most > 0 ? 1 + 7 * Math.sqrt(e.rate / most) : 1;
    const line = svg("line", {x1: x1 + ux * r, y1: y1 + uy * r, x2: x2 - ux * (r + 2), y2: y2 - uy * (r + 2),
      class: "edge", "stroke-width": width.toFixed(2), "marker-end": "url(#arrow)"});
    line.dataset.from = e.from_name; line.dataset.to = e.to_name; line.dataset.rate = String(e.rate);
    const tip = e.from_name + " \u2192 " + e.to_name + ": " + e.rate.toFixed(1) + " events/s";
    line.appendChild(svg("title", {}, tip));
    parts.push(line);
  }
  for (const n of nodes) {
    const [x, y] = at[n.id];
    const c = svg("circle", {cx: x, cy: y, r: r, class: "node"});
    c.dataset.node = n.name; c.dataset.stale = String(n.stale);
    c.appendChild(svg("title", {}, n.name + " (" + n.role + ")"));
    parts.push(c, svg("text", {x: x, y: y + r + 11, "text-anchor": "middle", class: "label"}, n.name));
  }
  if (!nodes.length) parts.push(svg("text", {x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty"},
    "no node heard yet"));
  box.replaceChildren(...parts);
}
function renderMesh(m) {
  lastMesh = m;
  $("mesh-count").textContent = m.nodes.length;
  $("mesh-note").textContent = "\u00b7 every node reports every " + m.interval + " s" +
    (m.dropped ? " \u00b7 " + m.dropped + " malformed report(s) dropped" : "");
  const s = m.series;
  lineChart($("chart-rates"), $("legend-rates"), s.t, s.topics, (v) => String(Math.round(v * 10) / 10));
  lineChart($("chart-latency"), $("legend-latency"), s.t, s.latency, (v) => (v * 1000).toFixed(1) + " ms");
  flowGraph($("graph"), m.nodes, m.edges);
  fill($("mesh-nodes").tBodies[0], m.nodes.map((n) => {
    const busiest = Object.entries(n.topics).sort((a, b) => (b[1][0] + b[1][1]) - (a[1][0] + a[1][1]))
      .slice(0, 3).map(([t]) => t).join(", ");
    const tr = row([n.name, n.role, n.peers, n.rates.published.toFixed(1), n.rates.received.toFixed(1),
      n.counters.lost, n.counters.dropped, ms(n.latency.p50), ms(n.latency.p99), busiest || "-",
      n.age.toFixed(1) + " s ago" + (n.stale ? " (stale)" : "")]);
    tr.dataset.node = n.name; return tr; }));
  document.body.dataset.meshPolls = String(++meshPolls);
}
async function pollMesh() {
  try {
    const r = await api("api/mesh");  // api(): the dashboard's fetch with the token
    if (r.ok) renderMesh(await r.json());
  } catch (e) { $("mesh-note").textContent = "\u00b7 " + String(e); }
  setTimeout(pollMesh, 2000);
}
pollMesh();
"""
