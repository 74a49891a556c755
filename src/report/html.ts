/**
 * The report page: one HTML file with its CSS, script, topology SVG and data
 * inline. The data is JSON in a `<script type="application/json">` element,
 * escaped so no text in it can end the element or break a script: `<` (so no
 * `</script`), and U+2028/U+2029.
 */
import { PAGE_SCRIPT } from './page-script.js';
import { esc, topologySvg } from './topology-svg.js';
import type { ReportData } from './model.js';

/** JSON safe inside a script element. */
export function embedJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const CSS = `
:root { --fg: #1d1d1f; --muted: #666; --line: #d8d8dc; --bg2: #f6f6f8; --accent: #2563eb; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); }
header { padding: 12px 18px; border-bottom: 1px solid var(--line); background: var(--bg2); }
header h1 { margin: 0 0 4px; font-size: 18px; }
main { padding: 0 18px 40px; }
h2 { font-size: 15px; margin: 22px 0 8px; }
.muted { color: var(--muted); }
table.results { border-collapse: collapse; width: 100%; }
table.results td, table.results th { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
table.results tr { cursor: pointer; }
table.results tr:hover { background: #eef3ff; }
tr.ok .mark { color: #197a19; font-weight: 600; } tr.fail .mark { color: #c00; font-weight: 700; }
.res-reply { color: #197a19; } .res-dropped, .res-refused, .res-unreachable { color: #b00; }
.topo-box { overflow: auto; border: 1px solid var(--line); max-height: 70vh; background: #fff; }
svg.topology { font-size: 11px; }
svg.topology .machine > rect { fill: #fafafa; stroke: #777; }
svg.topology .role-router > rect { fill: #fff7e6; } svg.topology .role-host > rect { fill: #f3f8ff; }
svg.topology .m-name { font-weight: 700; font-size: 13px; } svg.topology .m-sub { fill: var(--muted); }
svg.topology .netns > rect { fill: #fff; stroke: #aaa; stroke-dasharray: 3 2; }
svg.topology .netns.pod > rect { fill: #f4fbf4; }
svg.topology .ns-name { fill: #444; font-style: italic; }
svg.topology .dev { cursor: pointer; } svg.topology .dev:hover rect { stroke-width: 2; }
svg.topology .dev rect { fill: #e8eefc; stroke: #7a8fc7; }
svg.topology .dev.kind-bridge rect { fill: #fde9d9; stroke: #d08a55; }
svg.topology .dev.kind-vxlan rect, svg.topology .dev.kind-ipip rect, svg.topology .dev.kind-tun rect { fill: #efe4fb; stroke: #9a6fd0; }
svg.topology .dev.kind-nic rect { fill: #e3f4e8; stroke: #4a9a62; }
svg.topology .dev.down rect { opacity: .45; }
svg.topology .d-name { font-weight: 600; } svg.topology .d-kind { fill: var(--muted); font-weight: 400; } svg.topology .d-addr { fill: #333; font-size: 10px; }
svg.topology .link { fill: none; stroke: #555; stroke-width: 1.5; }
svg.topology .link.port { stroke: #d08a55; } svg.topology .link.wire { stroke: #4a9a62; stroke-dasharray: 4 2; }
svg.topology .segment rect { fill: #4a9a62; } svg.topology .segment text { fill: #2d6b40; font-weight: 600; }
svg.topology .note { fill: #b00; }
.filters { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; padding: 8px 0; position: sticky; top: 0; background: #fff; z-index: 5; }
.filters select, .filters input { font: inherit; padding: 3px 6px; }
.filters input[type=search] { width: 260px; }
#item-head { margin: 6px 0; } .item-title { font-size: 14px; }
ul.packets { margin: 4px 0; padding-left: 18px; columns: 2; font-size: 12px; max-height: 9.5em; overflow: auto; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 6px; border-radius: 2px; }
.end { margin: 6px 0; padding: 6px 8px; background: #eef7ee; border-left: 4px solid #2a2; cursor: pointer; }
.end.end-drop { background: #fdeeee; border-left-color: #d00; }
.traffic-grid { display: grid; grid-template-columns: minmax(0, 1fr) 460px; gap: 12px; }
#diagram { position: relative; overflow: auto; height: 70vh; border: 1px solid var(--line); }
#lane-head { position: sticky; top: 0; z-index: 2; display: flex; background: var(--bg2); border-bottom: 1px solid var(--line); }
#lane-head .lane-text { width: 470px; flex: none; padding: 4px 8px; color: var(--muted); }
#lane-head .lane { width: 112px; flex: none; text-align: center; font-size: 11px; padding: 3px 2px; border-left: 1px dotted #ccc; overflow: hidden; }
.l-node { font-weight: 700; } .l-ns { color: var(--muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; } .l-dev { color: #234; }
#diagram-rows { position: relative; }
.row { position: absolute; left: 0; height: 24px; display: flex; cursor: pointer; white-space: nowrap; }
.row:hover { background: #f0f4ff; } .row.selected { background: #dce6ff; }
.row.v-drop { background: #fde8e8; } .row.v-deliver .r-detail { color: #197a19; }
.row.nat .r-detail { color: #8a6a00; font-weight: 600; }
.r-text { width: 470px; flex: none; overflow: hidden; text-overflow: ellipsis; padding: 3px 8px; font: 12px/18px ui-monospace, Menlo, Consolas, monospace; }
.r-time { color: var(--muted); margin-right: 6px; } .r-id { font-weight: 700; margin-right: 6px; } .r-stage { color: #555; margin-right: 6px; }
.r-lanes { flex: none; background: repeating-linear-gradient(to right, transparent 0 55px, #ddd 55px 56px, transparent 56px 112px); } .hop { stroke-width: 2; }
.empty { padding: 20px; color: var(--muted); }
#details { border: 1px solid var(--line); padding: 8px 12px; height: 70vh; overflow: auto; font-size: 12px; }
#details h3 { font-size: 13px; margin: 2px 0 6px; } #details h4 { margin: 10px 0 4px; font-size: 12px; }
#details dl { display: grid; grid-template-columns: max-content 1fr; gap: 1px 10px; margin: 4px 0; }
#details dt { color: var(--muted); } #details dd { margin: 0; word-break: break-all; }
pre { white-space: pre-wrap; word-break: break-all; background: var(--bg2); padding: 6px; margin: 4px 0; font-size: 11.5px; }
.nat-box { font-family: ui-monospace, monospace; } .nat-kind { font-weight: 700; margin-right: 6px; } .nat-before { color: #a00; } .nat-after { color: #070; }
details.layer { border-bottom: 1px solid #eee; } details.layer summary { cursor: pointer; font-weight: 600; padding: 2px 0; }
details.layer dl { padding-left: 16px; }
.inner-packet { margin: 6px 0 6px 10px; padding: 4px 8px; border: 2px solid #9a6fd0; border-radius: 4px; background: #faf6ff; }
.inner-title { font-weight: 700; color: #6a3fb0; }
.summary { font-family: ui-monospace, monospace; margin: 6px 0; }
footer { padding: 10px 18px; color: var(--muted); border-top: 1px solid var(--line); }
`;

/** At most this many cluster events are listed (a generated cluster's start-up has one per pod). */
const MAX_CLUSTER_EVENTS = 300;

/**
 * The cluster's own timeline (issue 11): the control plane's `kube.event` lines — node NotReady,
 * taints, evictions, ReplicaSet replacements, endpoints changes — with their virtual times, so a
 * failure and the recovery can be read next to the traffic items' times. Static HTML, no script.
 */
export function clusterEvents(data: ReportData): string {
  const k = data.stages.indexOf('kube.event');
  if (k < 0) return '';
  const rows: string[] = [];
  let n = 0;
  const ev = data.events;
  for (let i = 0; i < ev.stage.length; i++) {
    if (ev.stage[i] !== k) continue;
    n++;
    if (rows.length < MAX_CLUSTER_EVENTS) rows.push(`<tr><td>${esc(ev.time[i]!)}</td><td>${esc(data.places[ev.place[i]!]!.replace(/\/$/, ''))}</td><td>${esc(ev.detail[i]!)}</td></tr>`);
  }
  if (n === 0) return '';
  const more = n > rows.length ? `<div class="muted">the first ${rows.length} of ${n} cluster events</div>` : '';
  return `<h2 id="cluster-events">Cluster events</h2>
<table class="results cluster-events"><thead><tr><th>virtual time</th><th>where</th><th>event</th></tr></thead><tbody>${rows.join('')}</tbody></table>${more}`;
}

export function renderHtml(data: ReportData): string {
  const title = `podwire report: ${data.scenarioFile}`;
  const svg = topologySvg(data.topology);
  const passed = data.results.filter((r) => r.ok).length;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>${esc(title)}</h1>
<div class="muted">seed ${data.seed} · run ended at ${esc(data.endTime)} s (virtual) · ${data.events.place.length} trace events · ${data.results.length} traffic items, ${passed} as expected · captures: ${data.captureDir ? `${esc(data.captureDir)}/ (all.pcapng and one pcap per interface)` : 'none'}</div>
</header>
<main>
<h2 id="results">Traffic items</h2>
<table class="results"><thead><tr><th></th><th>item</th><th>result</th><th>virtual time</th><th>detail</th></tr></thead><tbody id="results-body"></tbody></table>
${clusterEvents(data)}
<h2 id="topology">Topology</h2>
<div class="muted">Hover a device for its details; click it for the steps that happened on it.</div>
<div class="topo-box">${svg}</div>
<h2 id="traffic">Packet paths</h2>
<div class="filters">
<label>traffic item <select id="f-item"></select></label>
<label>node <select id="f-node"></select></label>
<label>verdict <select id="f-verdict"></select></label>
 <label><input type="checkbox" id="f-key"> key steps only</label>
<input type="search" id="f-search" placeholder="search steps (address, rule, chain, reason…)">
<span id="f-count" class="muted"></span>
</div>
<div id="item-head"></div>
<div class="traffic-grid">
<div id="diagram"><div id="lane-head"></div><div id="diagram-rows"></div></div>
<aside id="details"><div class="muted">Click a step to see the packet as it was there, what decided it, and where the capture holds it.</div></aside>
</div>
</main>
<footer>Made by podwire from ${esc(data.scenarioFile)}. Self-contained: no network access needed.</footer>
<script type="application/json" id="podwire-data">${embedJson({ ...data, topology: undefined })}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
