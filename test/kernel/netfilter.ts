/**
 * Netfilter half of the kernel comparison (pure: no I/O).
 *
 *  - {@link parseXtablesTrace}: `xtables-monitor --trace` text (iptables-nft 1.8.9) → traced
 *    packets, each the ordered list of (table, chain, rule|policy|return, verdict) steps it took
 *    in one namespace. Format observed on this machine: fixtures/xtables-monitor-observed.txt.
 *  - {@link modelTracedPackets}: podwire's `nf.rule` trace events → the same shape.
 *  - {@link parseIptablesSave} / {@link compareCounters}: `iptables-save -c` counters.
 *  - {@link normaliseConntrack} / {@link compareConntrack}: `conntrack -L` entries.
 *  - {@link compareTraces}: per packet, model steps = kernel steps.
 *
 * What the harness adds to the kernel and is taken out again here: a `-t raw -I PREROUTING 1
 * -j TRACE` and `-t raw -I OUTPUT 1 -j TRACE` rule in every namespace with rules. Their steps
 * and counters are dropped; when the model has no raw table (the scenario's rules have no
 * `*raw`), the kernel's raw table is ignored altogether (its chains exist only for TRACE).
 */

// ---------------------------------------------------------------- trace

export type StepKind = 'rule' | 'policy' | 'return';

export interface TraceStep {
  table: string;
  chain: string;
  kind: StepKind;
  /** Rule text as iptables-save prints it (`-A CHAIN …`), for kind 'rule'. */
  rule?: string;
  /** ACCEPT, DROP, RETURN, CONTINUE, STOLEN, QUEUE, `jump X`, `goto X` (kind rule/policy); '' for return. */
  verdict: string;
  /** Position in its side's event stream (trace line / model event index), for ordering packets in {@link compareTraces}. */
  seq?: number;
}

/** The header fields xtables-monitor prints on a PACKET line (IN, OUT, SRC, DST, LEN, ID, SPORT, …) and its flag words. */
export interface PacketHeader {
  fields: Record<string, string>;
  flags: string[];
}

export interface TracedPacket {
  /** The kernel's trace ids this packet was printed under (one per base-chain visit; may repeat for other packets). */
  traceIds: string[];
  /** Header at the first base chain it entered. */
  header: PacketHeader;
  /** Base chains visited, `table:CHAIN`, in order. */
  hooks: string[];
  steps: TraceStep[];
}

/** IPv4 built-in chains → stage in a packet's way (PREROUTING/OUTPUT 0, INPUT/FORWARD 1, POSTROUTING 2). */
const STAGE: Record<string, number> = { PREROUTING: 0, OUTPUT: 0, INPUT: 1, FORWARD: 1, POSTROUTING: 2 };
const PRIO: Record<string, number> = { raw: -300, mangle: -150, filter: 0, security: 50 };

/** Order of a base chain on a packet's way (hook stage, then the table's priority on that hook). */
export function hookRank(table: string, chain: string): number {
  const stage = STAGE[chain];
  if (stage === undefined) return NaN;
  const prio = table === 'nat' ? (chain === 'PREROUTING' || chain === 'OUTPUT' ? -100 : 100) : (PRIO[table] ?? 0);
  return stage * 10_000 + prio;
}

const NFT_VERDICT_CODES: Record<string, string> = {
  '0xffffffff': 'CONTINUE',
  '0xfffffffe': 'BREAK',
  '0xfffffffd': 'JUMP',
  '0xfffffffc': 'GOTO',
  '0xfffffffb': 'RETURN',
};

/** xtables-monitor verdict text (`CONTINUE`, `JUMP:X`, `0xfffffffb`, …) → model spelling. */
export function normaliseVerdict(v: string): string {
  const s = v.trim();
  const m = /^(JUMP|GOTO):(.+)$/.exec(s);
  if (m) return `${m[1]!.toLowerCase()} ${m[2]}`;
  const lower = s.toLowerCase();
  if (NFT_VERDICT_CODES[lower]) return NFT_VERDICT_CODES[lower]!;
  const j = /^(jump|goto)\s+(\S+)$/i.exec(s);
  if (j) return `${j[1]!.toLowerCase()} ${j[2]}`;
  return s.toUpperCase();
}

/** Rule text → `-A CHAIN …` with single spaces (drops xtables-monitor's `-4 -t TABLE ` prefix). */
export function normaliseRuleText(text: string): string {
  return text.trim().replace(/^-4\s+/, '').replace(/^-t\s+\S+\s+/, '').replace(/\s+/g, ' ');
}

export function parsePacketLine(rest: string): PacketHeader {
  const fields: Record<string, string> = {};
  const flags: string[] = [];
  const words = rest.trim().split(/\s+/);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const eq = w.indexOf('=');
    if (eq > 0) {
      fields[w.slice(0, eq)] = w.slice(eq + 1);
      // LL=0x0 <hex> (the link-layer header on POSTROUTING of bridged frames).
      if (w.startsWith('LL=') && words[i + 1] && /^[0-9a-f]+$/i.test(words[i + 1]!)) fields['LLHDR'] = words[++i]!;
    } else if (w === 'OPT' && words[i + 1]?.startsWith('(')) fields['OPT'] = words[++i]!;
    else if (w) flags.push(w);
  }
  return { fields, flags };
}

/** Parses one ` TRACE: 2 ID table:chain:…` payload (after the id). */
export function parseTraceStep(s: string): TraceStep | null {
  const m = /^([^:\s]+):([^:\s]+):(rule|policy|return):(\S*)(?:\s+(.*))?$/.exec(s.trim());
  if (!m) return null;
  const [, table, chain, kind, tail, text] = m;
  if (kind === 'policy') return { table: table!, chain: chain!, kind: 'policy', verdict: normaliseVerdict(tail!) };
  if (kind === 'return') return { table: table!, chain: chain!, kind: 'return', verdict: '' };
  // rule:HANDLE:VERDICT[:TARGET]
  const c = tail!.indexOf(':');
  const verdict = c < 0 ? '' : tail!.slice(c + 1);
  return { table: table!, chain: chain!, kind: 'rule', rule: normaliseRuleText(text ?? ''), verdict: normaliseVerdict(verdict) };
}

export interface TraceParseOptions {
  /** Drop packets whose (first) header says this (default: multicast/broadcast destinations: IGMP etc.). */
  isNoise?: (h: PacketHeader) => boolean;
}

export const defaultNoise = (h: PacketHeader): boolean => {
  const dst = h.fields['DST'] ?? '';
  const first = Number(dst.split('.')[0]);
  return (first >= 224 && first <= 239) || dst === '255.255.255.255';
};

interface Visit {
  id: string;
  header: PacketHeader;
  steps: TraceStep[];
}

/**
 * Parses `xtables-monitor --trace` output into packets. Each PACKET line opens one base-chain
 * visit; the TRACE lines after it (same id) are its steps. Visits are joined into one packet
 * while the hook rank increases and the trace id or the IP (SRC, ID) stays the same (the trace
 * id changes when a bridged packet is passed up to INPUT: the kernel hashes skb_iif into it).
 */
export function parseXtablesTrace(text: string, opts: TraceParseOptions = {}): TracedPacket[] {
  const visits: Visit[] = [];
  let cur: Visit | null = null;
  let lineNo = -1;
  for (const raw of text.split('\n')) {
    lineNo++;
    const line = raw.trimEnd();
    let m = /^PACKET:\s+\d+\s+([0-9a-f]+)\s+(.*)$/.exec(line);
    if (m) {
      cur = { id: m[1]!, header: parsePacketLine(m[2]!), steps: [] };
      visits.push(cur);
      continue;
    }
    m = /^\s*TRACE:\s+\d+\s+([0-9a-f]+)\s+(.*)$/.exec(line);
    if (m) {
      const step = parseTraceStep(m[2]!);
      if (!step) continue;
      step.seq = lineNo;
      // A rule whose target sends a packet (REJECT) is printed after that packet's own traversal
      // (nested in the target): it belongs to the latest visit under its id, not to the current one.
      let v = cur && cur.id === m[1] ? cur : undefined;
      for (let i = visits.length - 1; !v && i >= 0; i--) if (visits[i]!.id === m[1]) v = visits[i];
      if (!v) {
        v = { id: m[1]!, header: { fields: {}, flags: [] }, steps: [] };
        visits.push(v);
      }
      v.steps.push(step);
    }
  }
  const isNoise = opts.isNoise ?? defaultNoise;
  const packets: (TracedPacket & { lastRank: number })[] = [];
  for (const v of visits) {
    if (!v.steps.length) continue;
    const rank = hookRank(v.steps[0]!.table, v.steps[0]!.chain);
    const hook = `${v.steps[0]!.table}:${v.steps[0]!.chain}`;
    let target: (TracedPacket & { lastRank: number }) | undefined;
    for (let i = packets.length - 1; i >= Math.max(0, packets.length - 8); i--) {
      const p = packets[i]!;
      const sameId = p.traceIds[p.traceIds.length - 1] === v.id;
      const samePkt = p.header.fields['SRC'] === v.header.fields['SRC'] && p.header.fields['ID'] === v.header.fields['ID'] && v.header.fields['ID'] !== undefined && v.header.fields['ID'] !== '0';
      if ((sameId || samePkt) && rank > p.lastRank) {
        target = p;
        break;
      }
    }
    if (target) {
      target.traceIds.push(v.id);
      target.hooks.push(hook);
      target.steps.push(...v.steps);
      target.lastRank = rank;
    } else packets.push({ traceIds: [v.id], header: v.header, hooks: [hook], steps: v.steps.slice(), lastRank: rank });
  }
  return packets.filter((p) => !isNoise(p.header)).map(({ lastRank: _r, ...p }) => p);
}

/** Is this step the harness's own `-j TRACE` rule in raw PREROUTING/OUTPUT? */
export function isTraceRuleStep(s: TraceStep): boolean {
  return s.table === 'raw' && s.kind === 'rule' && /^-A (PREROUTING|OUTPUT) -j TRACE$/.test(s.rule ?? '');
}

export interface StepFilter {
  /** Keep the kernel's raw-table steps (only when the model has a raw table). Default false. */
  keepRaw?: boolean;
  /** Keep `return` steps. Default false: the kernel prints nothing for the implicit return at a user chain's end (observed), the model does. */
  keepReturns?: boolean;
}

export function filterSteps(steps: TraceStep[], f: StepFilter = {}): TraceStep[] {
  return steps.filter((s) => !isTraceRuleStep(s) && (f.keepRaw || s.table !== 'raw') && (f.keepReturns || s.kind !== 'return'));
}

export function formatStep(s: TraceStep): string {
  if (s.kind === 'rule') return `${s.table}:${s.chain}:rule ${s.rule} → ${s.verdict}`;
  if (s.kind === 'policy') return `${s.table}:${s.chain}:policy:${s.verdict}`;
  return `${s.table}:${s.chain}:return`;
}

/** One-line summary of a kernel packet header. */
export function formatHeader(h: PacketHeader): string {
  const f = h.fields;
  const io = [f['IN'] ? `IN=${f['IN']}` : '', f['OUT'] ? `OUT=${f['OUT']}` : ''].filter(Boolean).join(' ');
  const ports = f['SPORT'] ? `:${f['SPORT']} > ` : ' > ';
  return `${io} ${f['SRC'] ?? '?'}${ports}${f['DST'] ?? '?'}${f['DPORT'] ? `:${f['DPORT']}` : ''} ID=${f['ID'] ?? '?'} LEN=${f['LEN'] ?? '?'} ${h.flags.filter((x) => x !== 'DF').join(',')}`.trim();
}

/** The shape of podwire's trace events this module reads (src/trace/events.ts TraceEvent). */
export interface ModelTraceEvent {
  node: string;
  netns: string;
  packetId: number;
  stage: string;
  detail: string;
  flow?: string;
}

/**
 * Parses a model `nf.rule` detail: `TABLE:CHAIN:rule:N <rule text> → VERDICT`,
 * `TABLE:CHAIN:policy:VERDICT`, `TABLE:CHAIN:return`.
 */
export function parseModelStep(detail: string): TraceStep | null {
  const d = detail.trim();
  // The verdict follows the LAST arrow: rule comments may contain arrows (kube-proxy's "-> 10.244.0.3:80").
  let m = /^([^:\s]+):([^:\s]+):rule:\d+\s+(.*)\s+→\s+(\S+(?: \S+)?)$/.exec(d) ?? /^([^:\s]+):([^:\s]+):rule:\d+\s+(.*)\s+->\s+(\S+(?: \S+)?)$/.exec(d);
  if (m) return { table: m[1]!, chain: m[2]!, kind: 'rule', rule: normaliseRuleText(m[3]!), verdict: normaliseVerdict(m[4]!) };
  m = /^([^:\s]+):([^:\s]+):policy:(\S+)/.exec(d);
  if (m) return { table: m[1]!, chain: m[2]!, kind: 'policy', verdict: normaliseVerdict(m[3]!) };
  m = /^([^:\s]+):([^:\s]+):return\b/.exec(d);
  if (m) return { table: m[1]!, chain: m[2]!, kind: 'return', verdict: '' };
  return null;
}

/** The model's traced packets in one namespace, in order of first appearance (grouped by packetId). */
export function modelTracedPackets(events: readonly ModelTraceEvent[], node: string, netns: string): TracedPacket[] {
  const byId = new Map<number, TracedPacket>();
  const out: TracedPacket[] = [];
  for (const [seq, e] of events.entries()) {
    if (e.stage !== 'nf.rule' || e.node !== node || e.netns !== netns) continue;
    const parsed = parseModelStep(e.detail);
    if (!parsed) continue;
    const s: TraceStep = { ...parsed, seq };
    let p = byId.get(e.packetId);
    if (!p) {
      p = { traceIds: [String(e.packetId)], header: { fields: { PACKET: String(e.packetId), ...(e.flow ? { FLOW: e.flow } : {}) }, flags: [] }, hooks: [], steps: [] };
      byId.set(e.packetId, p);
      out.push(p);
    }
    if (STAGE[s.chain] !== undefined && (p.steps.length === 0 || p.hooks[p.hooks.length - 1] !== `${s.table}:${s.chain}`)) {
      const last = p.steps[p.steps.length - 1];
      // A base chain is entered when the previous step ended a table's traversal (a policy, or a verdict that ends it).
      if (!last || last.table !== s.table || last.kind === 'policy' || /^(ACCEPT|DROP|STOLEN|QUEUE)$/.test(last.verdict)) p.hooks.push(`${s.table}:${s.chain}`);
    }
    p.steps.push(s);
  }
  return out;
}

export interface TraceComparison {
  ok: boolean;
  kernelPackets: number;
  modelPackets: number;
  mismatches: string[];
}

/**
 * Per packet (matched by order of appearance in the namespace), the model's steps must equal
 * the kernel's after {@link filterSteps}. Packets with no steps left are dropped on both sides
 * (e.g. a packet that met only the raw TRACE rule).
 *
 * "Order of appearance" is the position of each packet's first step that is compared (when
 * steps carry `seq`), not of its first step: the kernel's packets also pass the harness's raw
 * TRACE rule, which the model does not have. A REJECT in FORWARD shows why: the kernel prints
 * the rejected packet's raw PREROUTING steps, then the ICMP error's whole traversal (sent from
 * inside the target), then the REJECT rule step; the model's first event for the rejected
 * packet is that REJECT step, after the error's. Ordered by the first compared step, both
 * sides list the error first.
 */
export function compareTraces(kernel: TracedPacket[], model: TracedPacket[], f: StepFilter = {}, max = 5): TraceComparison {
  const byFirstStep = <T extends TracedPacket>(ps: T[]): T[] => ps.slice().sort((a, b) => (a.steps[0]!.seq ?? 0) - (b.steps[0]!.seq ?? 0));
  const k = byFirstStep(kernel.map((p) => ({ ...p, steps: filterSteps(p.steps, f) })).filter((p) => p.steps.length));
  const m = byFirstStep(model.map((p) => ({ ...p, steps: filterSteps(p.steps, { ...f, keepRaw: true }) })).filter((p) => p.steps.length));
  const mismatches: string[] = [];
  const n = Math.max(k.length, m.length);
  for (let i = 0; i < n && mismatches.length < max; i++) {
    const kp = k[i];
    const mp = m[i];
    if (!mp) {
      mismatches.push(`packet #${i} missing in model; kernel ${formatHeader(kp!.header)}:\n${kp!.steps.map((s) => `    ${formatStep(s)}`).join('\n')}`);
      continue;
    }
    if (!kp) {
      mismatches.push(`packet #${i} (model packet ${mp.header.fields['PACKET']}) extra in model:\n${mp.steps.map((s) => `    ${formatStep(s)}`).join('\n')}`);
      continue;
    }
    const ks = kp.steps.map(formatStep);
    const ms = mp.steps.map(formatStep);
    const j = ks.findIndex((s, x) => s !== ms[x]);
    if (j >= 0 || ks.length !== ms.length) {
      const at = j >= 0 ? j : Math.min(ks.length, ms.length);
      mismatches.push(
        `packet #${i} (kernel ${formatHeader(kp.header)}; model packet ${mp.header.fields['PACKET']}${mp.header.fields['FLOW'] ? ` flow ${mp.header.fields['FLOW']}` : ''}) differs at step ${at}:\n` +
          `  kernel:\n${ks.map((s, x) => `   ${x === at ? '>' : ' '} ${s}`).join('\n')}\n  model:\n${ms.map((s, x) => `   ${x === at ? '>' : ' '} ${s}`).join('\n')}`,
      );
    }
  }
  return { ok: mismatches.length === 0 && k.length === m.length, kernelPackets: k.length, modelPackets: m.length, mismatches };
}

// ---------------------------------------------------------------- iptables-save -c

export interface SavedRule {
  text: string;
  packets: number;
  bytes: number;
}

export interface SavedChain {
  /** ACCEPT/DROP for built-in chains, '-' for user chains. */
  policy: string;
  packets: number;
  bytes: number;
  rules: SavedRule[];
}

/** table → chain → counters, in file order. */
export type SavedRuleset = Map<string, Map<string, SavedChain>>;

/** Parses `iptables-save -c` (counters as `[p:b] -A …`, or `-c p b` inside the rule). */
export function parseIptablesSave(text: string): SavedRuleset {
  const out: SavedRuleset = new Map();
  let table: Map<string, SavedChain> | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      const name = line.slice(1);
      table = out.get(name) ?? new Map();
      out.set(name, table);
      continue;
    }
    if (line === 'COMMIT') {
      table = null;
      continue;
    }
    if (!table) continue;
    let m = /^:(\S+)\s+(\S+)(?:\s+\[(\d+):(\d+)\])?$/.exec(line);
    if (m) {
      table.set(m[1]!, { policy: m[2]!, packets: Number(m[3] ?? 0), bytes: Number(m[4] ?? 0), rules: [] });
      continue;
    }
    let packets = 0;
    let bytes = 0;
    let rule = line;
    m = /^\[(\d+):(\d+)\]\s+(.*)$/.exec(line);
    if (m) {
      packets = Number(m[1]);
      bytes = Number(m[2]);
      rule = m[3]!;
    } else {
      const c = /\s-c\s+(\d+)\s+(\d+)/.exec(rule);
      if (c) {
        packets = Number(c[1]);
        bytes = Number(c[2]);
        rule = rule.replace(c[0], '');
      }
    }
    const a = /^-A\s+(\S+)/.exec(rule);
    if (!a) continue;
    let chain = table.get(a[1]!);
    if (!chain) {
      chain = { policy: '-', packets: 0, bytes: 0, rules: [] };
      table.set(a[1]!, chain);
    }
    chain.rules.push({ text: normaliseRuleText(rule), packets, bytes });
  }
  return out;
}

export interface CounterOptions {
  /** 'rules' (default): every rule's and policy's packets and bytes; 'chainTotals': per chain the sums only. */
  mode?: 'rules' | 'chainTotals';
  /** Compare the raw table (only when the model has one); the harness's TRACE rules are removed either way. */
  keepRaw?: boolean;
  /**
   * 'chainTotals' only: the chains (`table:chain`) whose totals are compared; the others only
   * by their number of rules. Default all. See {@link drawIndependentChains}.
   */
  totalsOf?: Set<string>;
}

export interface CounterComparison {
  ok: boolean;
  mismatches: string[];
}

function withoutTraceRules(rs: SavedRuleset): SavedRuleset {
  const raw = rs.get('raw');
  if (!raw) return rs;
  const out: SavedRuleset = new Map(rs);
  const t = new Map<string, SavedChain>();
  for (const [name, ch] of raw) t.set(name, { ...ch, rules: ch.rules.filter((r) => !/^-A (PREROUTING|OUTPUT) -j TRACE$/.test(r.text)) });
  out.set('raw', t);
  return out;
}

const emptyChain = (c: SavedChain | undefined): boolean => !c || (c.rules.length === 0 && c.packets === 0 && c.bytes === 0);

/** Compares the kernel's `iptables-save -c` with the model's, table by table, chain by chain. */
export function compareCounters(kernelText: string, modelText: string, opts: CounterOptions = {}): CounterComparison {
  const k = withoutTraceRules(parseIptablesSave(kernelText));
  const m = parseIptablesSave(modelText);
  const mismatches: string[] = [];
  const tables = new Set([...k.keys(), ...m.keys()]);
  for (const t of tables) {
    if (t === 'raw' && !(opts.keepRaw ?? m.has('raw'))) continue;
    const kt = k.get(t) ?? new Map<string, SavedChain>();
    const mt = m.get(t) ?? new Map<string, SavedChain>();
    for (const c of new Set([...kt.keys(), ...mt.keys()])) {
      const kc = kt.get(c);
      const mc = mt.get(c);
      if (!kc || !mc) {
        // iptables-save lists every built-in chain of a table that exists, used or not.
        if (emptyChain(kc) && emptyChain(mc)) continue;
        mismatches.push(`${t}:${c}: only in ${kc ? 'kernel' : 'model'}`);
        continue;
      }
      if (opts.mode === 'chainTotals') {
        const sum = (x: SavedChain) => `rules ${x.rules.reduce((a, r) => a + r.packets, 0)}:${x.rules.reduce((a, r) => a + r.bytes, 0)} policy ${x.packets}:${x.bytes}`;
        if ((!opts.totalsOf || opts.totalsOf.has(`${t}:${c}`)) && sum(kc) !== sum(mc)) mismatches.push(`${t}:${c}: kernel ${sum(kc)}, model ${sum(mc)}`);
        if (kc.rules.length !== mc.rules.length) mismatches.push(`${t}:${c}: kernel ${kc.rules.length} rules, model ${mc.rules.length}`);
        continue;
      }
      if (kc.policy !== mc.policy || kc.packets !== mc.packets || kc.bytes !== mc.bytes) {
        mismatches.push(`${t}:${c} policy: kernel ${kc.policy} [${kc.packets}:${kc.bytes}], model ${mc.policy} [${mc.packets}:${mc.bytes}]`);
      }
      const n = Math.max(kc.rules.length, mc.rules.length);
      for (let i = 0; i < n; i++) {
        const kr = kc.rules[i];
        const mr = mc.rules[i];
        if (!kr || !mr) {
          mismatches.push(`${t}:${c} rule ${i + 1}: only in ${kr ? 'kernel' : 'model'}: ${(kr ?? mr)!.text}`);
        } else if (kr.text !== mr.text) {
          mismatches.push(`${t}:${c} rule ${i + 1}: text differs:\n    kernel ${kr.text}\n    model  ${mr.text}`);
        } else if (kr.packets !== mr.packets || kr.bytes !== mr.bytes) {
          mismatches.push(`${t}:${c} rule ${i + 1} [kernel ${kr.packets}:${kr.bytes}, model ${mr.packets}:${mr.bytes}] ${kr.text}`);
        }
      }
    }
  }
  return { ok: mismatches.length === 0, mismatches };
}

// ---------------------------------------------------------------- conntrack -L

export interface ConntrackOptions {
  ephemeral?: [number, number];
  /** Drop entries (default: multicast destinations, e.g. the bridge's IGMP reports, protocol `unknown 2`). */
  isNoise?: (line: string) => boolean;
}

export const defaultCtNoise = (line: string): boolean => {
  const m = /\bdst=(\d+)\./.exec(line);
  const first = m ? Number(m[1]) : 0;
  return (first >= 224 && first <= 239) || /^unknown\s+2\s/.test(line.trim());
};

/**
 * Normalises one `conntrack -L` line: drops the timeout, `use=`, `id=` (conntrack id) and
 * secctx; ICMP echo ids → `id=*`; ports in the ephemeral range → E1, E2, … in order of first
 * appearance within the entry (so "reply port = original port" survives, the value does not);
 * a reply dport that differs from the original sport (the port source NAT chose, random with
 * --random-fully, 1024–65535) → `NAT`.
 * Keeps protocol, state, both tuples, [UNREPLIED]/[ASSURED], mark, zone.
 */
export function normaliseConntrackLine(line: string, opts: ConntrackOptions = {}): string {
  const [lo, hi] = opts.ephemeral ?? [32768, 60999];
  const words = line.trim().split(/\s+/);
  if (words.length < 3) return line.trim();
  const out: string[] = [words[0]!, words[1]!];
  let i = 2;
  if (/^\d+$/.test(words[i]!)) i++; // timeout
  const ports = new Map<string, string>();
  const isIcmp = words[0] === 'icmp';
  // Source NAT's port (reply dport ≠ original sport: MASQUERADE --random-fully draws from 1024–65535).
  const tuplePorts = words.filter((w) => /^(sport|dport)=/.test(w)).map((w) => w.split('=')[1]!);
  const natPort = tuplePorts.length === 4 && tuplePorts[3] !== tuplePorts[0] ? tuplePorts[3] : undefined;
  let portIdx = 0;
  for (; i < words.length; i++) {
    const w = words[i]!;
    const kv = /^([a-z_]+)=(.*)$/.exec(w);
    if (kv) {
      const [, k, v] = kv;
      if (k === 'use' || k === 'secctx') continue;
      if (k === 'id' && isIcmp) {
        out.push('id=*');
        continue;
      }
      if (k === 'id') continue;
      const nth = k === 'sport' || k === 'dport' ? portIdx++ : -1;
      if (nth === 3 && natPort !== undefined) {
        out.push(`${k}=NAT`);
        continue;
      }
      if ((k === 'sport' || k === 'dport') && Number(v) >= lo && Number(v) <= hi) {
        let e = ports.get(v!);
        if (!e) {
          e = `E${ports.size + 1}`;
          ports.set(v!, e);
        }
        out.push(`${k}=${e}`);
        continue;
      }
    }
    out.push(w);
  }
  return out.join(' ');
}

/** `conntrack -L` text (either side) → sorted normalised entries, noise dropped. */
export function normaliseConntrack(text: string, opts: ConntrackOptions = {}): string[] {
  const isNoise = opts.isNoise ?? defaultCtNoise;
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('conntrack v') && !/flow entries have been shown/.test(l) && !isNoise(l))
    .map((l) => normaliseConntrackLine(l, opts))
    .sort();
}

export interface ConntrackComparison {
  ok: boolean;
  onlyKernel: string[];
  onlyModel: string[];
}

/**
 * Compares the final conntrack tables as multisets of normalised entries. mode 'summary'
 * compares only (protocol, state, flags) counts, for runs whose NAT choices are random.
 */
export function compareConntrack(kernelText: string, modelText: string, opts: ConntrackOptions & { mode?: 'entries' | 'summary' } = {}): ConntrackComparison {
  const summary = (l: string): string => l.split(' ').filter((w, i) => i < 2 || !w.includes('=')).join(' ');
  let k = normaliseConntrack(kernelText, opts);
  let m = normaliseConntrack(modelText, opts);
  if (opts.mode === 'summary') {
    k = k.map(summary).sort();
    m = m.map(summary).sort();
  }
  const rest = m.slice();
  const onlyKernel: string[] = [];
  for (const l of k) {
    const j = rest.indexOf(l);
    if (j >= 0) rest.splice(j, 1);
    else onlyKernel.push(l);
  }
  return { ok: onlyKernel.length === 0 && rest.length === 0, onlyKernel, onlyModel: rest };
}

// ---------------------------------------------------------------- trace completeness

/**
 * xtables-monitor can lose events (netlink overrun) or end early: every packet the TRACE rules
 * counted (iptables-save -c) must have been printed. Returns a problem or null.
 */
export function traceCompleteness(traceText: string, saveText: string): string | null {
  const printed = traceText.split('\n').filter((l) => /^\s*TRACE:\s+\d+\s+[0-9a-f]+\s+raw:(PREROUTING|OUTPUT):rule:0x[0-9a-f]+:CONTINUE\s+-4 -t raw -A (PREROUTING|OUTPUT) -j TRACE\s*$/.test(l)).length;
  const raw = parseIptablesSave(saveText).get('raw');
  let counted = 0;
  for (const c of raw?.values() ?? []) for (const r of c.rules) if (/^-A (PREROUTING|OUTPUT) -j TRACE$/.test(r.text)) counted += r.packets;
  return printed >= counted ? null : `xtables-monitor printed ${printed} TRACE-rule hits but the TRACE rules counted ${counted} packets: the trace is incomplete`;
}

/** Chains (`table:chain`) holding a `-m statistic --mode random` rule, from iptables-save text. */
export function randomChains(saveText: string): Set<string> {
  const out = new Set<string>();
  for (const [t, chains] of parseIptablesSave(saveText)) for (const [c, ch] of chains) if (ch.rules.some((r) => /--mode random\b/.test(r.text))) out.add(`${t}:${c}`);
  return out;
}

/**
 * For runs with random choices (`-m statistic --mode random`): the chains whose counter totals
 * do not depend on the draws, i.e. the nat table's PREROUTING and OUTPUT and the chains they
 * reach, minus every chain reachable from a random-statistic rule or any rule after it in its
 * chain. Only a connection's first packet passes nat PREROUTING/OUTPUT, before any draw of its
 * own; the chains that the draw (or falling through it) leads to are counted per backend
 * chosen. Everything later on a packet's way — filter, nat INPUT/POSTROUTING and the chains
 * they reach, established packets — follows from where the DNAT sent the connection (hairpin
 * or not, local or forwarded, masqueraded or not: seen on kube-proxy-rules, where FORWARD,
 * KUBE-FORWARD, POSTROUTING, KUBE-POSTROUTING and KUBE-MARK-MASQ totals move with the draws),
 * so their totals are not compared. A random chain's own total is compared: from its first
 * draw on each packet is counted by exactly one rule, whichever one drew it (kube-proxy's
 * KUBE-SEP chains end in DNAT; a chain that returned would make this fail, not pass).
 */
export function drawIndependentChains(saveText: string): Set<string> {
  const rs = parseIptablesSave(saveText);
  const out = new Set<string>();
  const nat = rs.get('nat');
  if (!nat) return out;
  const targets = (r: SavedRule): string[] => {
    const m = /(?:^|\s)-[jg]\s+(\S+)/.exec(r.text);
    return m && nat.has(m[1]!) ? [m[1]!] : [];
  };
  const reach = (from: string[]): Set<string> => {
    const seen = new Set<string>(from);
    const todo = from.slice();
    while (todo.length) for (const r of nat.get(todo.pop()!)?.rules ?? []) for (const t of targets(r)) if (!seen.has(t)) (seen.add(t), todo.push(t));
    return seen;
  };
  const drawn: string[] = [];
  for (const ch of nat.values()) {
    const i = ch.rules.findIndex((r) => /--mode random\b/.test(r.text));
    if (i >= 0) for (const r of ch.rules.slice(i)) drawn.push(...targets(r));
  }
  const after = drawn.length ? reach(drawn) : new Set<string>();
  for (const c of reach(['PREROUTING', 'OUTPUT'].filter((x) => nat.has(x)))) if (!after.has(c)) out.add(`nat:${c}`);
  return out;
}

/**
 * For runs with random choices: each packet's steps are cut at its first step in a chain that
 * draws a random number (what follows depends on the draw; established packets, which never
 * reach such a chain, are compared whole).
 */
export function cutAtRandom(packets: TracedPacket[], chains: Set<string>): TracedPacket[] {
  return packets.map((p) => {
    const i = p.steps.findIndex((s) => chains.has(`${s.table}:${s.chain}`));
    return i < 0 ? p : { ...p, steps: p.steps.slice(0, i) };
  });
}

/**
 * `after` minus `before` (both `iptables-save -c`), in iptables-save format: the counts of
 * the run alone. The harness snapshots the counters when the traffic is about to start, so
 * what the kernel did while settling (the bridge's and pods' IGMP reports, which podwire does
 * not send, pass nat OUTPUT/PREROUTING/POSTROUTING as NEW packets) is not compared.
 */
export function subtractCounters(after: string, before: string): string {
  const a = parseIptablesSave(after);
  const b = parseIptablesSave(before);
  const out: string[] = [];
  for (const [t, chains] of a) {
    out.push(`*${t}`);
    for (const [c, ch] of chains) {
      const bc = b.get(t)?.get(c);
      out.push(`:${c} ${ch.policy} [${ch.packets - (bc?.packets ?? 0)}:${ch.bytes - (bc?.bytes ?? 0)}]`);
    }
    for (const [c, ch] of chains) {
      const bc = b.get(t)?.get(c);
      ch.rules.forEach((r, i) => {
        const br = bc?.rules[i] && bc.rules[i]!.text === r.text ? bc.rules[i]! : undefined;
        out.push(`[${r.packets - (br?.packets ?? 0)}:${r.bytes - (br?.bytes ?? 0)}] ${r.text}`);
      });
    }
    out.push('COMMIT');
  }
  return out.join('\n') + '\n';
}
