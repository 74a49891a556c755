/**
 * The report page's script, kept as readable source in a string (the project's
 * TypeScript has no DOM types; the page needs no build step). It reads the JSON
 * embedded in the page, fills the result table and the filters, and renders the
 * selected traffic item's sequence diagram as a virtualised list: only the rows
 * in view exist (each row a small SVG of its lanes), so 10,000 steps cost what
 * a screenful costs. Text is always set with textContent, never parsed as HTML.
 * Written without template literals (this file holds it in one).
 */
export const PAGE_SCRIPT = String.raw`
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('podwire-data').textContent);
  var E = D.events;
  var N = E.place.length;
  var ROW = 24, TEXT_W = 470, LANE_W = 112, OVERSCAN = 12;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  var SVGNS = 'http://www.w3.org/2000/svg';
  function sv(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  function $(id) { return document.getElementById(id); }

  // Packet colours: a fixed palette by packet id, so a packet keeps its colour across rows.
  var PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f', '#d62728'];
  function colour(id) { return id ? PALETTE[id % PALETTE.length] : '#999'; }

  // ---- results ----
  function renderResults() {
    var tb = $('results-body');
    D.results.forEach(function (r) {
      var tr = el('tr', r.ok ? 'ok' : 'fail');
      tr.dataset.item = r.name;
      tr.appendChild(el('td', 'mark', r.ok ? 'PASS' : 'FAIL'));
      tr.appendChild(el('td', 'name', r.name));
      tr.appendChild(el('td', 'res res-' + r.result, r.result + (r.expected ? ' (expected ' + r.expected + ')' : '')));
      tr.appendChild(el('td', 'when', r.startedAt + ' – ' + r.endedAt));
      tr.appendChild(el('td', 'detail', r.detail + (r.mismatch ? ' — ' + r.mismatch : '')));
      tr.addEventListener('click', function () { selectItem(flowIndex(r.name)); $('traffic').scrollIntoView(); });
      tb.appendChild(tr);
    });
  }
  function flowIndex(name) {
    for (var i = 0; i < D.flows.length; i++) if (D.flows[i].name === name) return i;
    return -1;
  }

  // ---- filters ----
  var fItem = $('f-item'), fNode = $('f-node'), fVerdict = $('f-verdict'), fSearch = $('f-search'), fKey = $('f-key');
  function fillFilters() {
    fItem.appendChild(new Option('all events (' + N + ')', 'all'));
    D.flows.forEach(function (f, i) {
      fItem.appendChild(new Option((f.name || '(no traffic item: ARP, agents, control plane)') + ' (' + f.events.length + ')', String(i)));
    });
    fNode.appendChild(new Option('any node', ''));
    D.nodes.forEach(function (n) { fNode.appendChild(new Option(n, n)); });
    fVerdict.appendChild(new Option('any step', ''));
    fVerdict.appendChild(new Option('steps with a verdict', '*'));
    var seen = {};
    for (var i = 0; i < N; i++) if (E.verdict[i]) seen[E.verdict[i]] = true;
    Object.keys(seen).sort().forEach(function (v) { fVerdict.appendChild(new Option(v, v)); });
    [fItem, fNode, fVerdict, fKey].forEach(function (s) { s.addEventListener('change', applyFilters); });
    var t = 0;
    fSearch.addEventListener('input', function () { clearTimeout(t); t = setTimeout(applyFilters, 120); });
  }

  // Search text of a step, made on the first search.
  var searchText = null;
  function stepText(i) {
    var o = E.objs[i] >= 0 ? D.objs[E.objs[i]].map(function (r) { return r.kind + ' ' + r.name; }).join(' ') : '';
    return ('#' + E.id[i] + ' ' + D.places[E.place[i]] + ' ' + D.stages[E.stage[i]] + ' ' + E.detail[i] + ' ' + E.verdict[i] + ' ' + E.reason[i] + ' ' + o).toLowerCase();
  }

  // ---- the view: filtered steps of the selected item ----
  var view = { flow: 0, lanes: [], laneOfPlace: null, rows: new Int32Array(0), prevLane: new Int32Array(0), selected: -1 };

  function selectItem(i) {
    fItem.value = i < 0 ? 'all' : String(i);
    applyFilters();
  }

  function applyFilters() {
    var item = fItem.value;
    var node = fNode.value, verdict = fVerdict.value, q = fSearch.value.trim().toLowerCase(), key = fKey.checked;
    var src, lanes;
    if (item === 'all') {
      src = null;
      // Lanes of all events: places in the order first met.
      lanes = [];
      var seenP = new Int8Array(D.places.length);
      for (var k = 0; k < N; k++) if (!seenP[E.place[k]]) { seenP[E.place[k]] = 1; lanes.push(E.place[k]); }
    } else {
      var f = D.flows[+item];
      src = f.events;
      lanes = f.lanes;
    }
    var nodeIx = node ? D.nodes.indexOf(node) : -1;
    if (q && !searchText) { searchText = new Array(N); for (var s = 0; s < N; s++) searchText[s] = stepText(s); }
    var total = src ? src.length : N;
    var out = new Int32Array(total);
    var n = 0;
    for (var j = 0; j < total; j++) {
      var i = src ? src[j] : j;
      if (key && E.minor[i]) continue;
      if (nodeIx >= 0 && D.placeNode[E.place[i]] !== nodeIx) continue;
      if (verdict === '*' ? !E.verdict[i] : verdict && E.verdict[i] !== verdict) continue;
      if (q && searchText[i].indexOf(q) < 0) continue;
      out[n++] = i;
    }
    view.rows = out.subarray(0, n);
    view.lanes = lanes;
    view.laneOfPlace = new Int32Array(D.places.length).fill(-1);
    lanes.forEach(function (p, li) { view.laneOfPlace[p] = li; });
    // The lane each row's packet came from (the previous shown step of the same packet): the arrow.
    var last = new Map();
    view.prevLane = new Int32Array(n);
    for (var r = 0; r < n; r++) {
      var e = view.rows[r];
      var ln = view.laneOfPlace[E.place[e]];
      var pl = E.id[e] ? last.get(E.id[e]) : undefined;
      view.prevLane[r] = pl === undefined ? -1 : pl;
      if (E.id[e]) last.set(E.id[e], ln);
    }
    $('f-count').textContent = n + ' of ' + total + ' steps';
    // What the rows now show (the search is debounced: a test waits for its query here).
    document.body.dataset.query = fSearch.value;
    renderItemHead(item === 'all' ? null : D.flows[+item]);
    renderLanes();
    renderDiagram(true);
  }

  // ---- item header: result, packets, end ----
  function renderItemHead(f) {
    var h = $('item-head');
    h.textContent = '';
    if (!f) { h.appendChild(el('div', 'muted', 'All events of the run, in order. Pick a traffic item to see its own lanes.')); return; }
    var r = null;
    D.results.forEach(function (x) { if (x.name === f.name) r = x; });
    var title = el('div', 'item-title');
    title.appendChild(el('b', null, f.name || '(no traffic item)'));
    if (r) title.appendChild(el('span', 'res res-' + r.result, ' ' + r.result + (r.expected ? ' (expected ' + r.expected + ')' : '') + (r.ok ? '' : ' — FAIL')));
    h.appendChild(title);
    if (r) h.appendChild(el('div', 'muted', r.detail));
    if (f.packets.length) {
      var ul = el('ul', 'packets');
      f.packets.slice(0, 40).forEach(function (p) {
        var li = el('li');
        var sw = el('span', 'swatch');
        sw.style.background = colour(p.id);
        li.appendChild(sw);
        li.appendChild(el('span', null, '#' + p.id + (p.carries ? ' ⊃ #' + p.carries + ' (a packet carrying a packet)' : '') + (p.summary ? ': ' + p.summary : '')));
        ul.appendChild(li);
      });
      if (f.packets.length > 40) ul.appendChild(el('li', 'muted', (f.packets.length - 40) + ' more packets'));
      h.appendChild(ul);
    }
    var end = el('div', 'end');
    if (f.end) {
      end.classList.add('end-drop');
      end.textContent = 'Ends: ' + f.end.verdict.toUpperCase() + (f.end.reason ? ' (' + f.end.reason + ')' : '') + ' at ' + f.end.place + ': ' + E.detail[f.end.event];
      end.addEventListener('click', function () { showStep(f.end.event); });
    } else if (r) {
      end.textContent = 'Ends: ' + r.result + ' — ' + r.detail;
    }
    if (end.textContent) h.appendChild(end);
  }

  // ---- the diagram ----
  var vp = $('diagram'), spacer = $('diagram-rows'), laneHead = $('lane-head');
  function laneX(li) { return li * LANE_W + LANE_W / 2; }

  function renderLanes() {
    laneHead.textContent = '';
    var w = TEXT_W + view.lanes.length * LANE_W;
    laneHead.style.width = w + 'px';
    spacer.style.width = w + 'px';
    laneHead.appendChild(el('div', 'lane-text', 'time · packet · stage · what'));
    view.lanes.forEach(function (p) {
      var d = el('div', 'lane');
      var parts = D.places[p].split('/');
      d.title = D.places[p];
      d.appendChild(el('div', 'l-node', parts[0]));
      d.appendChild(el('div', 'l-ns', parts[1]));
      d.appendChild(el('div', 'l-dev', parts[2] || '(stack)'));
      laneHead.appendChild(d);
    });
  }

  var drawn = { from: -1, to: -1 };
  function renderDiagram(reset) {
    var n = view.rows.length;
    spacer.style.height = (n * ROW) + 'px';
    if (reset) { spacer.textContent = ''; drawn.from = drawn.to = -1; vp.scrollTop = 0; }
    var top = Math.max(0, vp.scrollTop - laneHead.offsetHeight);
    var from = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    var to = Math.min(n, Math.ceil((top + vp.clientHeight) / ROW) + OVERSCAN);
    if (from === drawn.from && to === drawn.to) return;
    spacer.textContent = '';
    for (var r = from; r < to; r++) spacer.appendChild(makeRow(r));
    drawn.from = from; drawn.to = to;
    if (n === 0) spacer.appendChild(el('div', 'empty', 'No step matches the filters.'));
  }
  vp.addEventListener('scroll', function () { renderDiagram(false); });
  window.addEventListener('resize', function () { renderDiagram(false); });

  function shortDetail(i) {
    var nat = E.nat[i];
    if (nat) return nat.kind + ' ' + nat.before + '  →  ' + nat.after;
    return E.detail[i];
  }

  function makeRow(r) {
    var i = view.rows[r];
    var row = el('div', 'row');
    row.style.top = (r * ROW) + 'px';
    row.dataset.event = String(i);
    if (E.verdict[i] === 'drop' || E.verdict[i] === 'reject') row.classList.add('v-drop');
    else if (E.verdict[i] === 'deliver') row.classList.add('v-deliver');
    if (E.nat[i]) row.classList.add('nat');
    if (E.inner[i]) row.classList.add('encap');
    if (i === view.selected) row.classList.add('selected');
    var t = el('div', 'r-text');
    t.appendChild(el('span', 'r-time', E.time[i]));
    var idt = el('span', 'r-id', E.id[i] ? '#' + E.id[i] + (E.inner[i] ? '⊃#' + E.inner[i] : '') : '-');
    idt.style.color = colour(E.id[i]);
    t.appendChild(idt);
    t.appendChild(el('span', 'r-stage', D.stages[E.stage[i]]));
    t.appendChild(el('span', 'r-detail', shortDetail(i) + (E.verdict[i] ? ' → ' + E.verdict[i].toUpperCase() + (E.reason[i] ? ' (' + E.reason[i] + ')' : '') : '')));
    t.title = D.places[E.place[i]] + '\n' + E.detail[i];
    row.appendChild(t);
    var w = view.lanes.length * LANE_W;
    var g = sv('svg', { width: w, height: ROW, class: 'r-lanes' });
    // Lane lines are the row's CSS background (a repeating gradient): no element per lane and row.
    var ln = view.laneOfPlace[E.place[i]];
    var x = laneX(ln), y = ROW / 2, c = colour(E.id[i]);
    var pl = view.prevLane[r];
    if (pl >= 0 && pl !== ln) {
      var x0 = laneX(pl), dir = x > x0 ? 1 : -1;
      g.appendChild(sv('line', { x1: x0, y1: y, x2: x - dir * 9, y2: y, stroke: c, class: 'hop' }));
      g.appendChild(sv('path', { d: 'M' + (x - dir * 9) + ' ' + (y - 4) + ' L' + (x - dir * 3) + ' ' + y + ' L' + (x - dir * 9) + ' ' + (y + 4) + ' Z', fill: c }));
    }
    if (E.inner[i]) {
      // A packet inside a packet: the carrier's box around the carried packet's box.
      g.appendChild(sv('rect', { x: x - 9, y: y - 7, width: 18, height: 14, rx: 2, fill: '#fff', stroke: c, 'stroke-width': 2, class: 'm-outer' }));
      g.appendChild(sv('rect', { x: x - 4, y: y - 3, width: 8, height: 6, fill: colour(E.inner[i]), class: 'm-inner' }));
    } else if (E.verdict[i] === 'drop' || E.verdict[i] === 'reject') {
      g.appendChild(sv('path', { d: 'M' + (x - 6) + ' ' + (y - 6) + ' L' + (x + 6) + ' ' + (y + 6) + ' M' + (x + 6) + ' ' + (y - 6) + ' L' + (x - 6) + ' ' + (y + 6), stroke: '#d00', 'stroke-width': 3, class: 'm-drop' }));
    } else if (E.nat[i]) {
      g.appendChild(sv('path', { d: 'M' + x + ' ' + (y - 7) + ' L' + (x + 7) + ' ' + y + ' L' + x + ' ' + (y + 7) + ' L' + (x - 7) + ' ' + y + ' Z', fill: '#f5c518', stroke: c, class: 'm-nat' }));
    } else {
      var rr = E.kind[i] === 'rule' ? 3 : 5;
      g.appendChild(sv('circle', { cx: x, cy: y, r: rr, fill: E.verdict[i] === 'deliver' ? '#2a2' : c, class: 'm-step' }));
    }
    row.appendChild(g);
    row.addEventListener('click', function () { showStep(i); });
    return row;
  }

  // ---- step details ----
  function kv(dl, k, v) {
    if (v === undefined || v === null || v === '') return;
    dl.appendChild(el('dt', null, k));
    dl.appendChild(el('dd', null, v));
  }
  var LAYER_TITLES = {
    Ethernet: function (f) { return 'Ethernet II, Src: ' + f.src + ', Dst: ' + f.dst; },
    IPv4: function (f) { return 'Internet Protocol Version 4, Src: ' + f.src + ', Dst: ' + f.dst; },
    TCP: function (f) { return 'Transmission Control Protocol, Src Port: ' + f.srcPort + ', Dst Port: ' + f.dstPort + ', Seq: ' + f.seq + ', Ack: ' + f.ack + ', Flags: ' + f.flags; },
    UDP: function (f) { return 'User Datagram Protocol, Src Port: ' + f.srcPort + ', Dst Port: ' + f.dstPort; },
    ICMP: function (f) { return 'Internet Control Message Protocol, Type ' + f.type + ', Code ' + f.code; },
    ARP: function (f) { return 'Address Resolution Protocol (' + (f.op === 1 ? 'request' : f.op === 2 ? 'reply' : 'op ' + f.op) + ')'; },
    BGP: function () { return 'Border Gateway Protocol'; },
    VXLAN: function (f) { return 'Virtual eXtensible Local Area Network, VNI: ' + f.vni; }
  };
  function layerTree(dec, box) {
    dec.layers.forEach(function (l) {
      var det = el('details', 'layer');
      det.open = true;
      var title = LAYER_TITLES[l.name] ? LAYER_TITLES[l.name](l.fields) : l.name;
      det.appendChild(el('summary', null, title));
      var dl = el('dl');
      Object.keys(l.fields).forEach(function (k) { kv(dl, k, String(l.fields[k])); });
      det.appendChild(dl);
      box.appendChild(det);
    });
    if (dec.inner) {
      var inner = el('div', 'inner-packet');
      inner.appendChild(el('div', 'inner-title', 'carried inside (' + dec.inner.via + '):'));
      layerTree(dec.inner.frame, inner);
      box.appendChild(inner);
    }
  }

  var DECISION = { rule: 'iptables rule', route: 'route', fdb: 'FDB entry', neighbour: 'neighbour entry', nat: 'NAT rewrite', ipvs: 'IPVS', drop: 'drop', socket: 'socket', encap: 'encapsulation' };

  function showStep(i) {
    view.selected = i;
    var rows = spacer.querySelectorAll('.row');
    for (var k = 0; k < rows.length; k++) rows[k].classList.toggle('selected', +rows[k].dataset.event === i);
    var p = $('details');
    p.textContent = '';
    p.dataset.event = String(i);
    var head = el('h3', null, (E.id[i] ? '#' + E.id[i] + (E.inner[i] ? ' carrying #' + E.inner[i] : '') + ' ' : '') + D.stages[E.stage[i]] + ' at ' + D.places[E.place[i]]);
    p.appendChild(head);
    var dl = el('dl', 'step');
    kv(dl, 'time', E.time[i] + ' s');
    kv(dl, 'traffic item', D.flows[E.flow[i]].name || '(none)');
    kv(dl, 'verdict', E.verdict[i] ? E.verdict[i].toUpperCase() + (E.reason[i] ? ' (' + E.reason[i] + ')' : '') : '');
    p.appendChild(dl);
    p.appendChild(el('pre', 'detail-text', E.detail[i]));

    var kind = E.kind[i];
    var dec = el('section', 'decision');
    if (!kind && E.objs[i] < 0) dec.hidden = true;
    dec.appendChild(el('h4', null, 'Decided by' + (DECISION[kind] ? ': ' + DECISION[kind] : '')));
    var rule = E.rule[i];
    if (rule) {
      var rdl = el('dl');
      kv(rdl, 'table', rule.table);
      kv(rdl, 'chain', rule.chain);
      kv(rdl, 'rule', rule.num ? String(rule.num) : '');
      kv(rdl, 'outcome', rule.outcome);
      dec.appendChild(rdl);
      dec.appendChild(el('pre', 'rule-text', rule.rule));
    }
    var nat = E.nat[i];
    if (nat) {
      var nb = el('div', 'nat-box');
      nb.appendChild(el('span', 'nat-kind', nat.kind));
      nb.appendChild(el('span', 'nat-before', nat.before));
      nb.appendChild(el('span', 'nat-arrow', ' → '));
      nb.appendChild(el('span', 'nat-after', nat.after));
      dec.appendChild(nb);
    }
    if (!rule && !nat && kind) dec.appendChild(el('pre', 'rule-text', E.detail[i]));
    if (E.objs[i] >= 0) {
      var ul = el('ul', 'objects');
      D.objs[E.objs[i]].forEach(function (o) {
        var li = el('li');
        li.appendChild(el('b', null, o.kind + ' ' + o.name));
        li.appendChild(el('span', 'muted', ' (from ' + o.via + ')'));
        ul.appendChild(li);
      });
      dec.appendChild(el('h4', null, 'Kubernetes object'));
      dec.appendChild(ul);
    }
    p.appendChild(dec);

    var pk = el('section', 'packet');
    pk.appendChild(el('h4', null, 'Packet'));
    var fi = E.frame[i];
    if (fi >= 0) {
      var f = D.frames[fi];
      var rel = E.frameRel[i];
      var where = el('div', 'frame-ref');
      where.appendChild(el('div', 'muted', rel === 0 ? 'The frame this step recorded:'
        : rel === 1 ? 'As last captured at or before this step (a rewrite after that capture shows in the next frame):'
        : 'Not captured before this step (the packet is made here): as first captured after it:'));
      var cdl = el('dl');
      kv(cdl, 'all.pcapng', 'frame ' + f.no);
      if (f.file) kv(cdl, f.file, 'frame ' + f.fileNo);
      kv(cdl, 'interface', f.iface + ' (' + f.dir + ')');
      kv(cdl, 'captured', f.time + ' s, ' + f.capLen + ' of ' + f.origLen + ' bytes');
      kv(cdl, 'comment', f.comment);
      kv(cdl, 'folder', D.captureDir);
      where.appendChild(cdl);
      pk.appendChild(where);
      pk.appendChild(el('div', 'summary', f.summary));
      var tree = el('div', 'layers');
      layerTree(f.decoded, tree);
      pk.appendChild(tree);
    } else {
      pk.appendChild(el('div', 'muted', E.id[i] ? 'No capture holds this packet at this point (run with captures to see it).' : 'This step is not about one packet (a route lookup before the packet exists, a socket, an agent).'));
    }
    p.appendChild(pk);
  }

  // The topology fits the page when it can stay readable (down to 60%); otherwise it scrolls.
  function fitTopology() {
    var svg = document.querySelector('svg.topology');
    if (!svg) return;
    var w = +svg.getAttribute('width'), h = +svg.getAttribute('height'), box = svg.parentNode.clientWidth - 2;
    var k = box / w;
    if (k < 1 && k >= 0.6) { svg.style.width = (w * k) + 'px'; svg.style.height = (h * k) + 'px'; }
  }

  // A device in the drawing: show the steps that happened on it.
  function linkTopology() {
    var devs = document.querySelectorAll('svg.topology [data-dev]');
    for (var k = 0; k < devs.length; k++) {
      devs[k].addEventListener('click', function (ev) {
        var id = ev.currentTarget.getAttribute('data-dev');
        fItem.value = 'all';
        fNode.value = '';
        fSearch.value = id;
        applyFilters();
        $('traffic').scrollIntoView();
      });
    }
  }

  fitTopology();
  linkTopology();
  renderResults();
  fillFilters();
  var firstItem = D.flows.length && D.flows[0].name ? 0 : -1;
  selectItem(firstItem);
  document.body.dataset.ready = '1';
})();
`;
