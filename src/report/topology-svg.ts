/**
 * Draws a Topology as one inline SVG: machines side by side, each with its pods'
 * namespaces on the left and the host namespace on the right; veth pairs join
 * them, bridge ports are bracketed to their bridge, NICs drop to the underlay
 * segments drawn as bars underneath (a router is a machine with one NIC per
 * segment). Generated once at report time: the page only shows it.
 * Large clusters are cut (machines and namespaces beyond the limits are counted
 * in a note, not drawn), so a report of a big run stays a usable size.
 */
import type { TopoDevice, TopoMachine, TopoNamespace, Topology } from './topology.js';

export const MAX_MACHINES = 40;
export const MAX_NAMESPACES = 24;

const COL_W = 190; // one namespace column
const DEV_H = 30;
const NS_HEAD = 20;
const NS_GAP = 8;
const M_HEAD = 34;
const M_GAP = 30;
const PAD = 10;

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

interface Placed { x: number; y: number; w: number; dev: TopoDevice }

function nsHeight(ns: TopoNamespace): number {
  return NS_HEAD + Math.max(1, ns.devices.length) * DEV_H + 6;
}

function devTitle(d: TopoDevice): string {
  return [d.id, `kind ${d.kind}`, d.mac && `mac ${d.mac}`, `mtu ${d.mtu}`, d.up ? 'UP' : 'DOWN', ...d.addrs.map((a) => `inet ${a}`), d.master && `master ${d.master.split('/').pop()}`, d.peer && `peer ${d.peer}`, d.tunnel].filter(Boolean).join('\n');
}

export function topologySvg(t: Topology): string {
  const parts: string[] = [];
  const pos = new Map<string, Placed>();
  const machines = t.machines.slice(0, MAX_MACHINES);
  let x = PAD;
  let bottom = 0;
  const notes: string[] = [];
  if (t.machines.length > machines.length) notes.push(`${t.machines.length - machines.length} more machines not drawn`);
  for (const m of machines) {
    const host = m.namespaces.find((n) => n.name === 'host');
    const others = m.namespaces.filter((n) => n !== host);
    const shown = others.slice(0, MAX_NAMESPACES);
    const hidden = others.length - shown.length;
    const hasLeft = shown.length > 0;
    const w = (hasLeft ? 2 : 1) * COL_W + (hasLeft ? 30 : 0) + 2 * PAD;
    const leftH = shown.reduce((s, n) => s + nsHeight(n) + NS_GAP, 0) + (hidden ? 18 : 0);
    const rightH = host ? nsHeight(host) : 0;
    const h = M_HEAD + Math.max(leftH, rightH) + PAD;
    const cls = `machine role-${m.role}`;
    parts.push(`<g class="${cls}" data-machine="${esc(m.name)}"><rect x="${x}" y="${PAD}" width="${w}" height="${h}" rx="6"/>`);
    const sub = [m.role, m.ip, m.podCIDR && `pods ${m.podCIDR}`].filter(Boolean).join(' · ');
    parts.push(`<text class="m-name" x="${x + PAD}" y="${PAD + 16}">${esc(m.name)}</text><text class="m-sub" x="${x + PAD}" y="${PAD + 29}">${esc(sub)}</text>`);
    let ly = PAD + M_HEAD;
    const drawNs = (ns: TopoNamespace, nx: number, ny: number) => {
      const nh = nsHeight(ns);
      const label = ns.pod ? `pod ${ns.pod}` : ns.name === 'host' ? 'host netns' : `netns ${ns.name}`;
      parts.push(`<g class="netns${ns.pod ? ' pod' : ''}" data-netns="${esc(ns.id)}"><rect x="${nx}" y="${ny}" width="${COL_W}" height="${nh}" rx="4"/><text class="ns-name" x="${nx + 6}" y="${ny + 14}">${esc(label)}</text>`);
      ns.devices.forEach((d, i) => {
        const dy = ny + NS_HEAD + i * DEV_H;
        const dw = COL_W - 12;
        pos.set(d.id, { x: nx + 6, y: dy, w: dw, dev: d });
        parts.push(`<g class="dev kind-${esc(d.kind)}${d.up ? '' : ' down'}" data-dev="${esc(d.id)}"><title>${esc(devTitle(d))}</title><rect x="${nx + 6}" y="${dy}" width="${dw}" height="${DEV_H - 4}" rx="3"/>`
          + `<text class="d-name" x="${nx + 10}" y="${dy + 11}">${esc(d.name)}<tspan class="d-kind"> ${esc(d.kind)}</tspan></text>`
          + `<text class="d-addr" x="${nx + 10}" y="${dy + 22}">${esc(d.addrs.join(' ') || (d.tunnel ?? d.mac))}</text></g>`);
      });
      parts.push('</g>');
      return nh;
    };
    for (const ns of shown) ly += drawNs(ns, x + PAD, ly) + NS_GAP;
    if (hidden) { parts.push(`<text class="note" x="${x + PAD}" y="${ly + 10}">${hidden} more namespaces not drawn</text>`); }
    if (host) drawNs(host, x + PAD + (hasLeft ? COL_W + 30 : 0), PAD + M_HEAD);
    parts.push('</g>');
    bottom = Math.max(bottom, PAD + h);
    x += w + M_GAP;
  }
  const width = Math.max(x, 400);
  // Links between devices drawn.
  const links: string[] = [];
  const bracket = new Map<string, number>();
  for (const l of t.links) {
    const a = pos.get(l.a);
    if (!a) continue;
    if (l.kind === 'veth') {
      const b = pos.get(l.b);
      if (!b) continue;
      const [p, q] = a.x < b.x ? [a, b] : [b, a];
      const y1 = p.y + (DEV_H - 4) / 2, y2 = q.y + (DEV_H - 4) / 2;
      links.push(`<path class="link veth" data-link="${esc(l.a)}|${esc(l.b)}" d="M${p.x + p.w} ${y1} C${p.x + p.w + 15} ${y1} ${q.x - 15} ${y2} ${q.x} ${y2}"/>`);
    } else if (l.kind === 'bridge-port') {
      const b = pos.get(l.b);
      if (!b) continue;
      // Ports bracket to their bridge on the right edge, one offset per bridge.
      const off = bracket.get(l.b) ?? 6 + 4 * (bracket.size % 3);
      bracket.set(l.b, off);
      const rx = a.x + a.w;
      links.push(`<path class="link port" data-link="${esc(l.a)}|${esc(l.b)}" d="M${rx} ${a.y + 13} h${off} V${b.y + 13} H${b.x + b.w}"/>`);
    }
  }
  // Underlay segments under the machines; each NIC drops to its bar.
  const segY = new Map<string, number>();
  t.segments.forEach((s, i) => segY.set(s.name, bottom + 40 + i * 34));
  const segs: string[] = [];
  for (const s of t.segments) {
    const y = segY.get(s.name)!;
    const xs = s.ports.map((p) => pos.get(p)).filter((p): p is Placed => !!p).map((p) => p.x + p.w / 2);
    const x1 = Math.min(PAD, ...xs), x2 = Math.max(width - M_GAP, ...xs);
    segs.push(`<g class="segment" data-segment="${esc(s.name)}"><rect x="${x1}" y="${y}" width="${x2 - x1}" height="8" rx="4"/><text x="${x1 + 4}" y="${y + 22}">underlay ${esc(s.name)}</text></g>`);
    for (const p of s.ports) {
      const d = pos.get(p);
      if (d) links.push(`<path class="link wire" data-link="${esc(p)}|${esc(s.name)}" d="M${d.x + d.w / 2} ${d.y + DEV_H - 4} V${y}"/>`);
    }
  }
  const height = bottom + 40 + t.segments.length * 34 + (notes.length ? 24 : 0) + PAD;
  const note = notes.length ? `<text class="note" x="${PAD}" y="${height - PAD}">${esc(notes.join('; '))}</text>` : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" class="topology" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`
    + parts.join('') + segs.join('') + links.join('') + note + '</svg>';
}

export type { TopoMachine };
