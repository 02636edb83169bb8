"""The live dashboard ``/`` serves: one self-contained page (inline CSS and JS, no CDN, no build step).

It polls ``/api/state`` once a second and redraws: health and its checks, counters with their
rates (computed in the browser from two successive polls, so the node keeps only counters), peers
(with when they joined and when this node last heard their stats), topics with rates, the backlog by
priority, queue groups, the journal, latency and the most recent gaps. Both fetches send the token the page
was opened with (``/?token=...``) as ``Authorization: Bearer``. Above them the whole mesh:
charts and a flow graph drawn from ``/api/mesh`` every two seconds (meshpage.py). Every value
is inserted with ``textContent`` (peer names and topics come from the network: never HTML).
Stable ids and ``data-*`` attributes (``#peers tr[data-peer]``, ``#status[data-status]``) let tests
and scripts read the page.
"""

from __future__ import annotations

from .meshpage import MESH_CSS, MESH_JS, MESH_SECTION

__all__ = ["DASHBOARD_HTML"]

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>zbus node</title>
<style>
body{font:14px system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 16px;display:flex;gap:16px;align-items:baseline}
header h1{font-size:18px;margin:0}
#status{padding:2px 8px;border-radius:4px;font-weight:600}
#status[data-status=healthy]{background:#2e7d32}#status[data-status=unhealthy]{background:#c62828}
#status[data-status=unreachable]{background:#6d4c41}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(360px,1fr));gap:12px;padding:12px}
section{background:#fff;border-radius:6px;padding:10px 12px;box-shadow:0 1px 2px #0002}
h2{font-size:14px;margin:0 0 8px;color:#455}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:2px 6px;border-bottom:1px solid #eee}
th{font-weight:600;color:#567}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{background:#1976d2;height:10px;display:inline-block;vertical-align:middle}
.muted{color:#889}.problem{color:#c62828}
<!--mesh-css--></style></head>
<body>
<header><h1 id="title">zbus</h1><span id="status" data-status="loading">loading</span>
<span id="meta" class="muted"></span><span id="updated" class="muted"></span></header>
<main><!--mesh-section-->
<section><h2>Health</h2><table id="checks"></table><ul id="problems" class="problem"></ul></section>
<section><h2>Events</h2><table id="counters"><tr><th></th><th>total</th><th>per second</th></tr></table>
<p class="muted" id="latency"></p></section>
<section><h2>Peers (<span id="peer-count">0</span>)</h2>
<table id="peers"><thead><tr><th>name</th><th>role</th><th>address</th><th>responds to</th><th>joined</th>
<th>last heard</th></tr></thead>
<tbody></tbody></table></section>
<section><h2>Topics</h2><table id="topics"><thead><tr><th>topic</th><th>published</th><th>received</th>
<th>per second</th></tr></thead><tbody></tbody></table></section>
<section><h2>Queue</h2><p id="queue-summary" class="muted"></p><table id="queue"></table></section>
<section><h2>Queue groups</h2><p id="groups-summary" class="muted"></p><table id="groups"><thead><tr>
<th>group</th><th>member</th><th>credit</th><th>in flight</th><th>sent</th><th>acked</th><th>redelivered</th>
</tr></thead><tbody></tbody></table></section>
<section><h2>Journal</h2><table id="journal"></table></section>
<section><h2>Recent gaps</h2><table id="gaps"><thead><tr><th>when</th><th>publisher</th><th>topic</th>
<th>missing</th></tr></thead><tbody></tbody></table></section>
</main>
<script>
"use strict";
let prev = null, polls = 0;
const $ = (id) => document.getElementById(id);
const TOKEN = new URLSearchParams(location.search).get("token");
function api(path) {  // the node's token from this page's URL, passed on as a header
  return fetch(path, {cache: "no-store", headers: TOKEN ? {Authorization: "Bearer " + TOKEN} : {}}); }
function el(tag, text, cls) { const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls; return e; }
function row(cells, numeric) { const tr = document.createElement("tr");
  cells.forEach((c, i) => tr.appendChild(el("td", c, numeric && i > 0 ? "n" : undefined))); return tr; }
function fill(tbody, rows) { tbody.replaceChildren(...rows); }
function rate(now, before, dt) {
  return before === undefined || dt <= 0 ? "" : ((now - before) / dt).toFixed(1); }
function ms(s) { return s === null || s === undefined ? "-" : (s * 1000).toFixed(2) + " ms"; }
function bytes(n) { if (n === undefined) return "-"; const u = ["B","KiB","MiB","GiB"]; let i = 0;
  while (n >= 1024 && i < 3) { n /= 1024; i++; } return n.toFixed(i ? 1 : 0) + " " + u[i]; }
function render(s) {
  const dt = prev ? s.taken_at - prev.taken_at : 0;
  const n = s.node, h = s.health;
  $("title").textContent = "zbus " + n.name; document.title = "zbus " + n.name;
  $("status").textContent = h.status; $("status").dataset.status = h.status;
  const dot = " \\u00b7 ";
  $("meta").textContent = "mesh " + n.mesh + dot + n.state + dot + "id " + n.id + dot + "v" + n.version;
  $("updated").textContent = "updated " + new Date(s.taken_at * 1000).toLocaleTimeString();
  fill($("checks"), Object.entries(h.checks).map(([k, v]) => row([k, v])));
  fill($("problems"), (h.problems || []).map((p) => el("li", p)));
  const c = s.counters, pc = prev ? prev.counters : {};
  const head = $("counters").rows[0];
  fill($("counters"), [head, ...Object.keys(c).map((k) => row([k, c[k], rate(c[k], pc[k], dt)], true))]);
  $("latency").textContent = "publish\\u2192handled p50 " + ms(s.latency.p50) + ", p99 " + ms(s.latency.p99) +
    " (" + s.latency.count + " samples) \\u00b7 request round trip p50 " + ms(s.request_latency.p50) +
    ", p99 " + ms(s.request_latency.p99);
  $("peer-count").textContent = s.peers.length;
  const heard = {}; if (lastMesh) lastMesh.nodes.forEach((n) => { heard[n.id] = n.age; });
  fill($("peers").tBodies[0], s.peers.map((p) => { const tr = row([p.name, p.role, p.address,
    p.responders.join(", "), p.joined_at ? new Date(p.joined_at * 1000).toLocaleTimeString() : "-",
    heard[p.id] === undefined ? "-" : heard[p.id].toFixed(1) + " s ago"]);
    tr.dataset.peer = p.name; return tr; }));
  const before = {}; if (prev) prev.topics.forEach((t) => { before[t.topic] = t.published + t.received; });
  fill($("topics").tBodies[0], s.topics.map((t) => { const tr = row([t.topic, t.published, t.received,
    rate(t.published + t.received, before[t.topic], dt)], true); tr.dataset.topic = t.topic; return tr; }));
  const q = s.queue;
  $("queue-summary").textContent = q.queued + " queued of " + q.capacity + " (fullest backlog " +
    Math.round(q.fill * 100) + "%) \\u00b7 handlers busy " + q.busy + "/" + q.workers;
  const max = Math.max(1, ...Object.values(q.by_priority));
  const qrows = [];
  for (let p = 10; p >= 1; p--) { const v = q.by_priority[String(p)] || 0; const tr = row(["priority " + p]);
    const td = el("td"); const bar = el("span", undefined, "bar"); bar.style.width = (v / max * 200) + "px";
    td.append(bar, " " + v); tr.appendChild(td); qrows.push(tr); }
  fill($("queue"), qrows);
  const g = s.groups;
  $("groups-summary").textContent = "as publisher: " + g.waiting + " waiting, " + g.in_flight +
    " in flight, " + g.redelivered + " redelivered, " + g.dead_lettered + " dead-lettered" +
    " \u00b7 as member: " + g.received + " received, " + g.acked + " acked, " + g.nacked + " nacked";
  fill($("groups").tBodies[0], g.members.length ? g.members.map((m) => row([m.group, m.name || m.member,
    m.credit, m.in_flight, m.sent, m.acked, m.redelivered], true)) : [row(["none", "", "", "", "", "", ""])]);
  const j = s.journal;
  fill($("journal"), j ? [row(["path", j.path]), row(["events", j.events]), row(["size", bytes(j.bytes)]),
    row(["map used", bytes(j.map_used) + " of " + bytes(j.map_size)]), row(["pending writes", j.pending]),
    row(["failed writes", j.failed])] : [row(["journal", "disabled (persistence.enabled = false)"])]);
  const gaps = s.recent_gaps.map((g) => row([new Date(g.ts * 1000).toLocaleTimeString(), g.publisher,
    g.topic, g.missing]));
  fill($("gaps").tBodies[0], gaps.length ? gaps : [row(["none", "", "", ""])]);
  prev = s;
  document.body.dataset.polls = String(++polls);
}
async function poll() {
  try {
    const r = await api("api/state");
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
  } catch (e) {
    $("status").textContent = "unreachable"; $("status").dataset.status = "unreachable";
    $("updated").textContent = String(e);
  }
  setTimeout(poll, 1000);
}
poll();
<!--mesh-js--></script>
</body></html>
"""

DASHBOARD_HTML = (
    _PAGE.replace("<!--mesh-css-->", MESH_CSS)
    .replace("<!--mesh-section-->", MESH_SECTION)
    .replace("<!--mesh-js-->", MESH_JS)
)
