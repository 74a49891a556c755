/**
 * ipset: the kernel's IP sets of one network namespace (net/netfilter/ipset/).
 *
 * Set types: hash:ip, hash:ip,port, hash:ip,port,ip, hash:ip,port,net,
 * hash:net, hash:net,port, bitmap:port, list:set (IPv4, family inet only).
 *
 * The hash types keep the kernel's own structure (ip_set_hash_gen.h): a table
 * of 2^bits buckets addressed by jhash2 over the element struct's words with
 * the set's initval, each bucket an array that grows by 2 slots up to
 * `bucketsize`; a full bucket doubles the table (resize). Deleted slots are
 * reused first, a bucket with 2 or more holes is compacted. So lookups are
 * O(1) as in the kernel, and `ipset save` prints elements in the kernel's
 * order: with the same initval (which `save` prints and `create … initval`
 * accepts) the order is byte-identical to a real kernel's.
 *
 * Sets are held in an index array as the kernel's ip_set_list: a new set
 * takes the lowest free index, swap exchanges two indexes (names and
 * reference counts move with them), rules and list:set members refer to the
 * index. `save` prints sets in index order, list:set sets last.
 *
 * Timeouts run on the virtual clock (`now()` in ns). An entry expires when
 * now > its expiry (time_is_before_jiffies). Expired entries are invisible to
 * test/list/save, reused by add, and dropped on resize or when the set is full
 * (mtype_gc_do); the kernel's periodic gc is not modelled beyond that.
 *
 * Errors are IpsetError with the exact message `ipset` prints after
 * "ipset v7.17: " (checked against ipset 7.17 on Linux 6.18).
 */
import type { PacketCtx } from './types.js';
import type { IpsetRegistry, IpsetTestOpts } from './ipset-types.js';

export type IpsetType =
  | 'hash:ip'
  | 'hash:ip,port'
  | 'hash:ip,port,ip'
  | 'hash:ip,port,net'
  | 'hash:net'
  | 'hash:net,port'
  | 'bitmap:port'
  | 'list:set';

export const IPSET_TYPES: readonly IpsetType[] = [
  'hash:ip', 'hash:ip,port', 'hash:ip,port,ip', 'hash:ip,port,net', 'hash:net', 'hash:net,port', 'bitmap:port', 'list:set',
];

/** Kernel revisions (what `ipset list` shows as Revision) on Linux 6.18. */
export const IPSET_REVISION: Record<IpsetType, number> = {
  'hash:ip': 6, 'hash:ip,port': 7, 'hash:ip,port,ip': 6, 'hash:ip,port,net': 8,
  'hash:net': 7, 'hash:net,port': 8, 'bitmap:port': 3, 'list:set': 3,
};

/** Dimensions of each type (how many src/dst flags a match needs). */
export const IPSET_DIMENSION: Record<IpsetType, number> = {
  'hash:ip': 1, 'hash:ip,port': 2, 'hash:ip,port,ip': 3, 'hash:ip,port,net': 3,
  'hash:net': 1, 'hash:net,port': 2, 'bitmap:port': 1, 'list:set': 0,
};

// IPSET_TYPE_* feature bits: swap requires equal features.
const F_IP = 1, F_PORT = 2, F_MAC = 4, F_IP2 = 8, F_NOMATCH = 64, F_NAME = 32;
const FEATURES: Record<IpsetType, number> = {
  'hash:ip': F_IP, 'hash:ip,port': F_IP | F_PORT, 'hash:ip,port,ip': F_IP | F_PORT | F_IP2,
  'hash:ip,port,net': F_IP | F_PORT | F_IP2 | F_NOMATCH, 'hash:net': F_IP | F_NOMATCH,
  'hash:net,port': F_IP | F_PORT | F_NOMATCH, 'bitmap:port': F_PORT, 'list:set': F_NAME,
};
void F_MAC;

/** An error as the ipset tool reports it (the text after "ipset v7.17: "). */
export class IpsetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IpsetError';
  }
}

export const ERR = {
  noSet: 'The set with the given name does not exist',
  exists: 'Set cannot be created: set with the same name already exists',
  added: "Element cannot be added to the set: it's already added",
  notAdded: "Element cannot be deleted from the set: it's not added",
  hashFull: 'Hash is full, cannot add more elements',
  destroyBusy: 'Set cannot be destroyed: it is in use by a kernel component',
  renameBusy: 'Set cannot be renamed: it is in use by another system',
  renameExists: 'Set cannot be renamed: a set with the new name already exists',
  swapNoSecond: 'Sets cannot be swapped: the second set does not exist',
  swapType: 'The sets cannot be swapped: their type does not match',
  range: 'Element is out of the range of the set',
  nullElem: 'Null-valued element, cannot be stored in a hash type of set',
  noTimeout: 'Timeout cannot be used: set was created without timeout support',
  noComment: 'Comment cannot be used: set was created without comment support',
  noCounters: 'Packet/byte counter cannot be used: set was created without counter support',
  noSkbinfo: 'Skbinfo mapping cannot be used: set was created without skbinfo support',
  listOfList: 'Sets with list:set type cannot be added to the set.',
  memberMissing: 'Set to be added/deleted/tested as element does not exist.',
  refMissing: "The set to which you referred with 'before' or 'after' does not exist.",
  refNotAdded: "The set to which you referred with 'before' or 'after' is not added to the set.",
  cidr: 'The value of the CIDR parameter of the IP address is invalid',
  missingRange: "Mandatory option `range' is missing",
  rangeTooBig: 'The range exceeds the size limit of the set type',
} as const;

/** `create` options, as the ipset command line names them. */
export interface IpsetCreateOpts {
  family?: 'inet';
  hashsize?: number;
  maxelem?: number;
  /** Default timeout in seconds (0 = entries permanent unless given one). */
  timeout?: number;
  counters?: boolean;
  comment?: boolean;
  skbinfo?: boolean;
  forceadd?: boolean;
  bucketsize?: number;
  /** jhash initval; random (from the registry's PRNG) when absent, as get_random_bytes. */
  initval?: number;
  /** bitmap:port: inclusive port range (mandatory). */
  range?: { from: number; to: number };
  /** list:set: size (at least 4; not enforced by the kernel). */
  size?: number;
}

/** Per-entry options of `add` (and `del`/`test` for list:set before/after). */
export interface IpsetAddOpts {
  timeout?: number;
  comment?: string;
  nomatch?: boolean;
  packets?: number;
  bytes?: number;
  skbmark?: { mark: number; mask: number };
  skbprio?: { major: number; minor: number };
  skbqueue?: number;
  before?: string;
  after?: string;
  /** -exist: no error for an element already added (its extensions are overwritten) or one not there on del. */
  exist?: boolean;
}

export const MAX_TIMEOUT = 2147483;
const NS = 1_000_000_000;

// ---------------------------------------------------------------- jhash ----

const JHASH_INITVAL = 0xdeadbeef;
function rol(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
/** include/linux/jhash.h jhash2 over `len` 32-bit words (len <= 3 here, but general). */
export function jhash2(k: ArrayLike<number>, len: number, initval: number): number {
  let a = (JHASH_INITVAL + (len << 2) + initval) >>> 0;
  let b = a;
  let c = a;
  let i = 0;
  while (len > 3) {
    a = (a + k[i]) >>> 0; b = (b + k[i + 1]) >>> 0; c = (c + k[i + 2]) >>> 0;
    // __jhash_mix
    a = (a - c) >>> 0; a ^= rol(c, 4); c = (c + b) >>> 0;
    b = (b - a) >>> 0; b ^= rol(a, 6); a = (a + c) >>> 0;
    c = (c - b) >>> 0; c ^= rol(b, 8); b = (b + a) >>> 0;
    a = (a - c) >>> 0; a ^= rol(c, 16); c = (c + b) >>> 0;
    b = (b - a) >>> 0; b ^= rol(a, 19); a = (a + c) >>> 0;
    c = (c - b) >>> 0; c ^= rol(b, 4); b = (b + a) >>> 0;
    a >>>= 0; b >>>= 0; c >>>= 0;
    len -= 3; i += 3;
  }
  if (len === 0) return c >>> 0;
  if (len === 3) c = (c + k[i + 2]) >>> 0;
  if (len >= 2) b = (b + k[i + 1]) >>> 0;
  a = (a + k[i]) >>> 0;
  // __jhash_final
  c ^= b; c = (c - rol(b, 14)) >>> 0;
  a ^= c; a = (a - rol(c, 11)) >>> 0;
  b ^= a; b = (b - rol(a, 25)) >>> 0;
  c ^= b; c = (c - rol(b, 16)) >>> 0;
  a ^= c; a = (a - rol(c, 4)) >>> 0;
  b ^= a; b = (b - rol(a, 14)) >>> 0;
  c ^= b; c = (c - rol(b, 24)) >>> 0;
  return c >>> 0;
}

function bswap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

// ------------------------------------------------------------ addresses ----

export function ipToString(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}
export function maskOf(cidr: number): number {
  return cidr === 0 ? 0 : (0xffffffff << (32 - cidr)) >>> 0;
}
/** Parses a dotted quad, or returns -1. */
export function parseIp(s: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return -1;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) return -1;
    v = v * 256 + o;
  }
  return v;
}

// ------------------------------------------------------------ protocols ----

const PROTO_NAMES: Record<number, string> = {
  0: 'ip', 1: 'icmp', 2: 'igmp', 4: 'ipencap', 6: 'tcp', 17: 'udp', 41: 'ipv6', 47: 'gre', 50: 'esp', 51: 'ah',
  58: 'ipv6-icmp', 89: 'ospf', 103: 'pim', 112: 'vrrp', 132: 'sctp', 136: 'udplite',
};
const PROTO_NUMS: Record<string, number> = Object.fromEntries(Object.entries(PROTO_NAMES).map(([n, s]) => [s, Number(n)]));
/** Protocols whose elements carry a real port (ip_set_proto_with_ports) plus ICMP's type/code. */
function protoWithPorts(p: number): boolean {
  return p === 6 || p === 17 || p === 132 || p === 136;
}

/** ipset's lib/icmp.c names, printed instead of type/code when one exists. */
const ICMP_NAMES: [string, number, number][] = [
  ['echo-reply', 0, 0], ['pong', 0, 0], ['network-unreachable', 3, 0], ['host-unreachable', 3, 1],
  ['protocol-unreachable', 3, 2], ['port-unreachable', 3, 3], ['fragmentation-needed', 3, 4],
  ['source-route-failed', 3, 5], ['network-unknown', 3, 6], ['host-unknown', 3, 7], ['network-prohibited', 3, 9],
  ['host-prohibited', 3, 10], ['TOS-network-unreachable', 3, 11], ['TOS-host-unreachable', 3, 12],
  ['communication-prohibited', 3, 13], ['host-precedence-violation', 3, 14], ['precedence-cutoff', 3, 15],
  ['source-quench', 4, 0], ['network-redirect', 5, 0], ['host-redirect', 5, 1], ['TOS-network-redirect', 5, 2],
  ['TOS-host-redirect', 5, 3], ['echo-request', 8, 0], ['ping', 8, 0], ['router-advertisement', 9, 0],
  ['router-solicitation', 10, 0], ['ttl-zero-during-transit', 11, 0], ['ttl-zero-during-reassembly', 11, 1],
  ['ip-header-bad', 12, 0], ['required-option-missing', 12, 1], ['timestamp-request', 13, 0],
  ['timestamp-reply', 14, 0], ['address-mask-request', 17, 0], ['address-mask-reply', 18, 0],
];

function protoPortString(proto: number, port: number): string {
  if (proto === 1) {
    const t = port >>> 8, c = port & 255;
    for (const [n, nt, nc] of ICMP_NAMES) if (nt === t && nc === c) return `icmp:${n}`;
    return `icmp:${t}/${c}`;
  }
  return `${PROTO_NAMES[proto] ?? String(proto)}:${port}`;
}

function syntax(msg: string): IpsetError {
  return new IpsetError(`Syntax error: ${msg}`);
}

function parseNumber(s: string, max: number): number {
  if (!/^\d+$/.test(s)) throw syntax(`'${s}' is invalid as number`);
  const n = Number(s);
  if (n > max) throw syntax(`'${s}' is out of range 0-${max}`);
  return n;
}

/** `[proto:]port[-port]` → [proto, from, to]; a bare port is tcp. ICMP takes `type/code` or a name. */
function parseProtoPort(s: string): [number, number, number] {
  let proto = 6;
  let rest = s;
  const colon = s.indexOf(':');
  if (colon >= 0) {
    const ps = s.slice(0, colon);
    rest = s.slice(colon + 1);
    if (/^\d+$/.test(ps)) proto = parseNumber(ps, 255);
    else if (ps in PROTO_NUMS) proto = PROTO_NUMS[ps];
    else throw syntax(`cannot parse '${ps}' as a protocol`);
  }
  if (proto === 1) {
    const named = ICMP_NAMES.find(([n]) => n.toLowerCase() === rest.toLowerCase());
    if (named) return [1, (named[1] << 8) | named[2], (named[1] << 8) | named[2]];
    const m = /^(\d+)\/(\d+)$/.exec(rest);
    if (!m) throw syntax(`cannot parse '${rest}' as a icmp type/code`);
    const v = (parseNumber(m[1], 255) << 8) | parseNumber(m[2], 255);
    return [1, v, v];
  }
  const dash = rest.indexOf('-');
  const a = dash >= 0 ? rest.slice(0, dash) : rest;
  const b = dash >= 0 ? rest.slice(dash + 1) : rest;
  const portOf = (x: string): number => {
    if (!/^\d+$/.test(x) || Number(x) > 65535) {
      throw syntax(`cannot parse '${x}' as a ${PROTO_NAMES[proto] ?? proto} port`);
    }
    return Number(x);
  };
  let from = portOf(a), to = portOf(b);
  if (from > to) [from, to] = [to, from];
  if (!protoWithPorts(proto) && (from !== 0 || to !== 0)) {
    throw syntax(`Protocol ${PROTO_NAMES[proto] ?? proto} can be used with pseudo port value 0 only.`);
  }
  return [proto, from, to];
}

/** `ip`, `ip/cidr` or `ip-ip` → list of [ip, cidr] (a range is split into CIDRs for net types). */
interface IpSpec { from: number; to: number; cidr: number; isRange: boolean; hasCidr: boolean }
function parseIpSpec(s: string): IpSpec {
  const dash = s.indexOf('-');
  if (dash >= 0) {
    const a = parseIp(s.slice(0, dash)), b = parseIp(s.slice(dash + 1));
    if (a < 0) throw syntax(`cannot parse ${s.slice(0, dash)}: resolving to IPv4 address failed`);
    if (b < 0) throw syntax(`cannot parse ${s.slice(dash + 1)}: resolving to IPv4 address failed`);
    return a <= b ? { from: a, to: b, cidr: 32, isRange: true, hasCidr: false } : { from: b, to: a, cidr: 32, isRange: true, hasCidr: false };
  }
  const slash = s.indexOf('/');
  const ipS = slash >= 0 ? s.slice(0, slash) : s;
  const ip = parseIp(ipS);
  if (ip < 0) throw syntax(`cannot parse ${ipS}: resolving to IPv4 address failed`);
  if (slash < 0) return { from: ip, to: ip, cidr: 32, isRange: false, hasCidr: false };
  const cidr = parseNumber(s.slice(slash + 1), 32);
  const m = maskOf(cidr);
  const net = (ip & m) >>> 0;
  return { from: net, to: (net | ~m) >>> 0, cidr, isRange: false, hasCidr: true };
}

/** ip_set_range_to_cidr: split [from, to] into the largest aligned CIDR blocks. */
function rangeToCidrs(from: number, to: number): [number, number][] {
  const out: [number, number][] = [];
  let ip = from;
  for (;;) {
    let cidr = 32;
    for (let c = 1; c <= 32; c++) {
      const m = maskOf(c);
      const last = (ip | ~m) >>> 0;
      if (((ip & m) >>> 0) === ip && last <= to) { cidr = c; break; }
    }
    out.push([ip, cidr]);
    const last = (ip | ~maskOf(cidr)) >>> 0;
    if (last >= to) break;
    ip = last + 1;
  }
  return out;
}

// ------------------------------------------------------------- elements ----

/** One stored element with its extensions. Fields unused by a type stay 0. */
export class IpsetEntry {
  ip = 0;
  ip2 = 0;
  port = 0;
  proto = 0;
  /** Prefix of the net dimension (hash:net, hash:net,port: of ip; hash:ip,port,net: of ip2). */
  cidr = 32;
  nomatch = false;
  /** Absolute expiry in ns; 0 = permanent (or no timeout support). */
  expires = 0;
  comment: string | null = null;
  packets = 0;
  bytes = 0;
  skbmark: { mark: number; mask: number } | null = null;
  skbprio: { major: number; minor: number } | null = null;
  skbqueue: number | null = null;
  /** list:set: the member's set index. */
  member = -1;
  /** list:set add/del/test: `before`/`after` another member (its set index). */
  listPos: { before: boolean; ref: number } | null = null;
}

interface Bucket {
  size: number;
  pos: number;
  slots: (IpsetEntry | null)[];
}

// Linux >= 5.10 (the bucketsize option): buckets start at 2 slots and grow by 2, up to 12 by default.
const AHASH_INIT_SIZE = 2;
const AHASH_MAX_SIZE = 12;

/** Common state of a set (the kernel's struct ip_set). */
export abstract class IpSet {
  ref = 0;
  constructor(
    public name: string,
    readonly type: IpsetType,
    readonly opts: Readonly<IpsetCreateOpts>,
    protected readonly reg: Ipsets,
  ) {}
  get withTimeout(): boolean { return this.opts.timeout !== undefined; }
  abstract add(e: IpsetEntry, exist: boolean): void;
  abstract del(e: IpsetEntry, exist: boolean): void;
  /** 1 match, 0 no, -1 nomatch entry (-ENOTEMPTY). */
  abstract testEntry(e: IpsetEntry): IpsetEntry | null;
  abstract flush(): void;
  /** Live (unexpired) entries in the kernel's listing order. */
  abstract entries(): IpsetEntry[];
  /** The element part of an `add` line. */
  abstract elemString(e: IpsetEntry): string;
  /** The options after the type on the `create` line. */
  abstract header(): string;
  expired(e: IpsetEntry): boolean {
    return this.withTimeout && e.expires !== 0 && this.reg.now() > e.expires;
  }
  /** Extensions printed after the element, in ipset's order. */
  extString(e: IpsetEntry, withNomatch: boolean): string {
    let s = '';
    if (this.withTimeout) {
      let t = 0;
      if (e.expires !== 0) {
        t = Math.floor((e.expires - this.reg.now()) / NS);
        if (t === 0) t = 1;
      }
      s += ` timeout ${t}`;
    }
    if (withNomatch && e.nomatch) s += ' nomatch';
    if (this.opts.counters) s += ` packets ${e.packets} bytes ${e.bytes}`;
    if (this.opts.comment && e.comment !== null) s += ` comment "${e.comment}"`;
    if (e.skbmark) s += ` skbmark 0x${e.skbmark.mark.toString(16)}/0x${e.skbmark.mask.toString(16)}`;
    if (e.skbprio) s += ` skbprio ${e.skbprio.major.toString(16)}:${e.skbprio.minor.toString(16)}`;
    if (e.skbqueue !== null) s += ` skbqueue ${e.skbqueue}`;
    return s;
  }
  extFlags(): string {
    let s = '';
    if (this.withTimeout) s += ` timeout ${this.opts.timeout}`;
    if (this.opts.counters) s += ' counters';
    if (this.opts.comment) s += ' comment';
    if (this.opts.skbinfo) s += ' skbinfo';
    return s;
  }
}

type KeyFn = (e: IpsetEntry, out: Uint32Array) => number;

/** Element struct words as jhash2 reads them on a little-endian machine (ip_set_hash_*.c *4_elem). */
const KEY: Record<string, KeyFn> = {
  // struct hash_ip4_elem { __be32 ip; }
  'hash:ip': (e, k) => { k[0] = bswap32(e.ip); return 1; },
  // struct hash_ipport4_elem { __be32 ip; __be16 port; u8 proto; u8 padding; }
  'hash:ip,port': (e, k) => {
    k[0] = bswap32(e.ip); k[1] = ((e.port >>> 8) | ((e.port & 255) << 8) | (e.proto << 16)) >>> 0; return 2;
  },
  // struct hash_ipportip4_elem { __be32 ip; __be32 ip2; __be16 port; u8 proto; u8 padding; }
  'hash:ip,port,ip': (e, k) => {
    k[0] = bswap32(e.ip); k[1] = bswap32(e.ip2); k[2] = ((e.port >>> 8) | ((e.port & 255) << 8) | (e.proto << 16)) >>> 0; return 3;
  },
  // struct hash_ipportnet4_elem { __be32 ip; __be32 ip2; __be16 port; u8 cidr:7; u8 nomatch:1; u8 proto; } (cidr - 1 stored)
  'hash:ip,port,net': (e, k) => {
    k[0] = bswap32(e.ip); k[1] = bswap32(e.ip2);
    k[2] = ((e.port >>> 8) | ((e.port & 255) << 8) | (((e.cidr - 1) & 0x7f) << 16) | (e.proto << 24)) >>> 0; return 3;
  },
  // struct hash_net4_elem { __be32 ip; u16 padding0; u8 nomatch; u8 cidr; }
  'hash:net': (e, k) => { k[0] = bswap32(e.ip); k[1] = (e.cidr << 24) >>> 0; return 2; },
  // struct hash_netport4_elem { __be32 ip; __be16 port; u8 proto; u8 cidr:7; u8 nomatch:1; } (cidr - 1 stored)
  'hash:net,port': (e, k) => {
    k[0] = bswap32(e.ip);
    k[1] = ((e.port >>> 8) | ((e.port & 255) << 8) | (e.proto << 16) | (((e.cidr - 1) & 0x7f) << 24)) >>> 0; return 2;
  },
};

function sameElem(type: IpsetType, a: IpsetEntry, b: IpsetEntry): boolean {
  switch (type) {
    case 'hash:ip': return a.ip === b.ip;
    case 'hash:ip,port': return a.ip === b.ip && a.port === b.port && a.proto === b.proto;
    case 'hash:ip,port,ip': return a.ip === b.ip && a.ip2 === b.ip2 && a.port === b.port && a.proto === b.proto;
    case 'hash:ip,port,net':
      return a.ip === b.ip && a.ip2 === b.ip2 && a.cidr === b.cidr && a.port === b.port && a.proto === b.proto;
    case 'hash:net': return a.ip === b.ip && a.cidr === b.cidr;
    case 'hash:net,port': return a.ip === b.ip && a.cidr === b.cidr && a.port === b.port && a.proto === b.proto;
    default: return false;
  }
}

/**
 * Permanent addresses added to many hash:ip sets alike (`Ipsets.addShared`): kube-router
 * fills every node's copy of a policy's set with the same pods. Read-only and shared; a
 * set holds a reference and answers membership from it (binary search) until anything
 * needs its own table — a change, a listing, its header — when the addresses are added
 * to it, in order, as `add -exist` of each would have.
 *
 * With `cidrs` (one prefix length per address, 1..32) the same for hash:net sets (felix's
 * selector sets on every node): each address is stored under its mask, as the kernel
 * stores a net, and membership is tested per prefix in use, most specific first, as
 * mtype_test_cidrs does.
 */
export class SharedAddresses {
  /** The addresses in the order they are added (masked to their prefix). */
  readonly ips: Uint32Array;
  /** Prefix length of each address (null: all /32, a hash:ip set's). */
  readonly cidrs: Uint8Array | null;
  /** The prefixes in use, most specific first (h->nets of the filled set), and each one's addresses ascending. */
  readonly prefixes: readonly number[];
  private readonly sortedBy: readonly Uint32Array[];
  constructor(ips: readonly number[], cidrs?: readonly number[]) {
    if (cidrs !== undefined && cidrs.length !== ips.length) throw new Error('SharedAddresses: one prefix length per address');
    const by = new Map<number, number[]>();
    const masked = ips.map((ip, i) => {
      const c = cidrs ? cidrs[i]! : 32;
      if (!Number.isInteger(c) || c < 1 || c > 32) throw new Error(`SharedAddresses: prefix length ${c} out of range 1..32`);
      const m = (ip & maskOf(c)) >>> 0;
      let l = by.get(c);
      if (l === undefined) by.set(c, (l = []));
      l.push(m);
      return m;
    });
    this.ips = Uint32Array.from(masked);
    this.cidrs = cidrs && cidrs.some((c) => c !== 32) ? Uint8Array.from(cidrs) : null;
    this.prefixes = [...by.keys()].sort((a, b) => b - a);
    this.sortedBy = this.prefixes.map((c) => Uint32Array.from(by.get(c)!).sort());
  }
  get size(): number { return this.ips.length; }
  private firsts: Uint32Array | null = null;
  /** The index of each distinct (address, prefix)'s first occurrence, in add order (made once, for every set holding these). */
  get firstOccurrences(): Uint32Array {
    if (this.firsts === null) {
      const seen = new Set<number>();
      const out: number[] = [];
      for (let i = 0; i < this.ips.length; i++) {
        const k = this.ips[i]! * 64 + this.cidrAt(i);
        if (!seen.has(k)) { seen.add(k); out.push(i); }
      }
      this.firsts = Uint32Array.from(out);
    }
    return this.firsts;
  }
  /** The prefix length of address i. */
  cidrAt(i: number): number { return this.cidrs === null ? 32 : this.cidrs[i]!; }
  /** Is `ip` (a /32) among the addresses? */
  has(ip: number): boolean { return this.hasNet(ip, 32); }
  /** Is the net `ip`/`cidr` (ip already masked) among the addresses? */
  hasNet(ip: number, cidr: number): boolean {
    const k = this.prefixes.indexOf(cidr);
    if (k < 0) return false;
    const a = this.sortedBy[k]!;
    let lo = 0, hi = a.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1, v = a[mid]!;
      if (v === ip) return true;
      if (v < ip) lo = mid + 1; else hi = mid - 1;
    }
    return false;
  }
}

/** The generic hash type (ip_set_hash_gen.h). */
export class HashSet extends IpSet {
  bits: number;
  buckets: (Bucket | undefined)[];
  elements = 0;
  readonly initval: number;
  readonly bucketsize: number;
  readonly maxelem: number;
  /** Prefixes in use, most specific first, with counts (h->nets); only for the net types. */
  readonly nets: { cidr: number; count: number }[] = [];
  private readonly key: KeyFn;
  private readonly kbuf = new Uint32Array(3);
  private readonly probe = new IpsetEntry();
  /** Bucket lookups performed by tests, for the emulated-cost counters. */
  lookups = 0;
  /** Addresses adopted (`adopt`) and not yet in the table: the set's whole content while set. */
  private pending: SharedAddresses | null = null;
  /** What a membership test of `pending` returns (a permanent entry; only its ip and nomatch are read). */
  private pendingHit: IpsetEntry | null = null;

  constructor(name: string, type: IpsetType, opts: IpsetCreateOpts, reg: Ipsets, initval: number) {
    super(name, type, opts, reg);
    let hashsize = opts.hashsize ?? 1024;
    if (hashsize < 64) hashsize = 64;
    this.bits = hashsize <= 1 ? 0 : 32 - Math.clz32(hashsize - 1);
    this.buckets = new Array(1 << this.bits);
    this.maxelem = opts.maxelem ?? 65536;
    let bs = opts.bucketsize ?? AHASH_MAX_SIZE;
    if (bs < AHASH_INIT_SIZE) bs = AHASH_INIT_SIZE;
    else if (bs > AHASH_MAX_SIZE) bs = AHASH_MAX_SIZE;
    else if (bs % 2) bs += 1;
    this.bucketsize = bs;
    this.initval = initval >>> 0;
    this.key = KEY[type];
  }

  get hasNets(): boolean {
    return this.type === 'hash:net' || this.type === 'hash:net,port' || this.type === 'hash:ip,port,net';
  }

  /**
   * `add -exist` of each of `addrs` (permanent hash:ip entries), made when first
   * needed: an empty set keeps the reference (membership tests read it), any other use
   * adds them to the table first. A set already holding entries adds them now.
   */
  adopt(addrs: SharedAddresses): void {
    if (this.type !== 'hash:net' && (this.type !== 'hash:ip' || addrs.cidrs !== null)) throw new Error('HashSet.adopt: hash:ip sets (addresses) and hash:net sets only');
    if (this.elements === 0 && this.pending === null && addrs.size <= this.maxelem) { this.pending = addrs; return; }
    this.materialize();
    this.addAll(addrs);
  }

  /** The adopted addresses into the table (no-op when none). */
  private materialize(): void {
    const p = this.pending;
    if (p === null) return;
    this.pending = null;
    this.addAll(p);
  }

  private addAll(addrs: SharedAddresses): void {
    const ips = addrs.ips;
    for (let i = 0; i < ips.length; i++) {
      const e = new IpsetEntry();
      e.ip = ips[i]!;
      e.cidr = addrs.cidrAt(i);
      this.add(e, true);
    }
  }

  /** Prefixes in use (h->nets), for the data path's early exit. */
  netCount(): number {
    if (this.pending !== null) return this.pending.prefixes.length;
    return this.nets.length;
  }

  private hkey(e: IpsetEntry, bits = this.bits): number {
    const n = this.key(e, this.kbuf);
    return bits === 0 ? 0 : jhash2(this.kbuf, n, this.initval) & ((1 << bits) - 1) >>> 0;
  }

  header(): string {
    let bits = this.bits;
    if (this.pending !== null) {
      const b = this.pendingBits(this.pending);
      if (b < 0) this.materialize(); else bits = b;
    }
    return `family inet hashsize ${1 << bits} maxelem ${this.maxelem}${this.extFlags()} bucketsize ${this.bucketsize} initval 0x${this.initval.toString(16).padStart(8, '0')}`;
  }

  /**
   * The table size (bits) adding the pending addresses would end with, without adding them
   * (-1: past 31 bits, left to the adds). `add` resizes only when a bucket is full, to the
   * next size at which everything added so far fits, and a bucket at one more bit holds a
   * subset of its bucket at this one; so the end size is the smallest, from the current one,
   * at which no bucket gets more than bucketsize of the distinct elements.
   */
  private pendingBits(p: SharedAddresses): number {
    const ix = p.firstOccurrences;
    let bits = this.bits;
    while (bits <= 31 && 2 ** bits * this.bucketsize < ix.length) bits++;
    const e = new IpsetEntry();
    for (; bits <= 31; bits++) {
      const counts = new Uint8Array(2 ** bits);
      let ok = true;
      for (let j = 0; j < ix.length; j++) {
        const i = ix[j]!;
        e.ip = p.ips[i]!;
        e.cidr = p.cidrAt(i);
        if (++counts[this.hkey(e, bits)]! > this.bucketsize) { ok = false; break; }
      }
      if (ok) return bits;
    }
    return -1;
  }

  private addCidr(c: number): void {
    let i = 0;
    while (i < this.nets.length && this.nets[i].cidr > c) i++;
    if (i < this.nets.length && this.nets[i].cidr === c) this.nets[i].count++;
    else this.nets.splice(i, 0, { cidr: c, count: 1 });
  }
  private delCidr(c: number): void {
    const i = this.nets.findIndex((n) => n.cidr === c);
    if (i < 0) return;
    if (--this.nets[i].count === 0) this.nets.splice(i, 1);
  }

  private gc(): void {
    // mtype_gc_do over the whole table (one region below 1024 buckets).
    for (let i = 0; i < this.buckets.length; i++) {
      const n = this.buckets[i];
      if (!n) continue;
      let d = 0;
      for (let j = 0; j < n.pos; j++) {
        const x = n.slots[j];
        if (!x) { d++; continue; }
        if (!this.expired(x)) continue;
        n.slots[j] = null;
        if (this.hasNets) this.delCidr(x.cidr);
        this.elements--;
        d++;
      }
      if (d >= AHASH_INIT_SIZE) {
        if (d >= n.size) { this.buckets[i] = undefined; continue; }
        this.compact(n);
        n.size -= AHASH_INIT_SIZE;
      }
    }
  }

  private compact(n: Bucket): void {
    const live = n.slots.slice(0, n.pos).filter((x): x is IpsetEntry => x !== null);
    n.slots = live;
    n.pos = live.length;
  }

  add(d: IpsetEntry, exist: boolean): void {
    if (this.pending !== null) this.materialize();
    for (;;) {
      const r = this.tryAdd(d, exist);
      if (r) return;
      this.resize();
    }
  }

  /** mtype_add; false = the bucket is at its maximum: resize and retry. */
  private tryAdd(d: IpsetEntry, exist: boolean): boolean {
    let elements = this.elements;
    let forceadd = false;
    if (elements >= this.maxelem) {
      if (this.withTimeout) this.gc();
      elements = this.elements;
      if (elements >= this.maxelem && this.opts.forceadd) forceadd = true;
    }
    const key = this.hkey(d);
    let n = this.buckets[key];
    if (!n) {
      if (forceadd || elements >= this.maxelem) throw new IpsetError(ERR.hashFull);
      n = { size: AHASH_INIT_SIZE, pos: 0, slots: [] };
      this.buckets[key] = n;
      this.store(n, n.pos++, d, false);
      return true;
    }
    let j = -1;
    let reuse = false, deleted = false;
    for (let i = 0; i < n.pos; i++) {
      const x = n.slots[i];
      if (!x) {
        if (j === -1) { deleted = reuse = true; j = i; }
        continue;
      }
      if (sameElem(this.type, x, d)) {
        if (exist || this.expired(x)) {
          this.overwrite(x, d);
          return true;
        }
        throw new IpsetError(ERR.added);
      }
      if (this.expired(x) && j === -1) { j = i; reuse = true; }
    }
    if (reuse || forceadd) {
      if (j === -1) j = 0;
      if (!deleted) {
        const old = n.slots[j]!;
        if (this.hasNets) this.delCidr(old.cidr);
        this.elements--;
      }
      this.store(n, j, d, false);
      return true;
    }
    if (elements >= this.maxelem) throw new IpsetError(ERR.hashFull);
    if (n.pos >= n.size) {
      if (n.size >= this.bucketsize) return false;
      n.size += AHASH_INIT_SIZE;
    }
    this.store(n, n.pos++, d, false);
    return true;
  }

  private store(n: Bucket, j: number, d: IpsetEntry, _: boolean): void {
    n.slots[j] = d;
    this.elements++;
    if (this.hasNets) this.addCidr(d.cidr);
  }

  /** -exist on an existing element (or reuse of an expired one): only the extensions change. */
  private overwrite(x: IpsetEntry, d: IpsetEntry): void {
    x.nomatch = d.nomatch;
    x.expires = d.expires;
    if (this.opts.comment) x.comment = d.comment;
    if (this.opts.counters) { x.packets = d.packets; x.bytes = d.bytes; }
    if (this.opts.skbinfo) { x.skbmark = d.skbmark; x.skbprio = d.skbprio; x.skbqueue = d.skbqueue; }
  }

  /** mtype_resize: double until every bucket fits, re-inserting in table order. */
  private resize(): void {
    let bits = this.bits;
    for (;;) {
      bits++;
      if (bits > 31) throw new IpsetError(ERR.hashFull);
      const t: (Bucket | undefined)[] = new Array(1 << bits);
      let ok = true;
      let count = 0;
      outer: for (const n of this.buckets) {
        if (!n) continue;
        for (let j = 0; j < n.pos; j++) {
          const x = n.slots[j];
          if (!x || this.expired(x)) continue;
          const key = this.hkey(x, bits);
          let m = t[key];
          if (!m) {
            m = { size: AHASH_INIT_SIZE, pos: 0, slots: [] };
            t[key] = m;
          } else if (m.pos >= m.size) {
            if (m.size >= this.bucketsize) { ok = false; break outer; }
            m.size += AHASH_INIT_SIZE;
          }
          m.slots[m.pos++] = x;
          count++;
        }
      }
      if (!ok) continue;
      this.bits = bits;
      this.buckets = t;
      this.elements = count;
      if (this.hasNets) {
        this.nets.length = 0;
        for (const n of t) if (n) for (let j = 0; j < n.pos; j++) this.addCidr(n.slots[j]!.cidr);
      }
      return;
    }
  }

  del(d: IpsetEntry, exist: boolean): void {
    this.materialize();
    const key = this.hkey(d);
    const n = this.buckets[key];
    if (n) {
      let k = 0;
      for (let i = 0; i < n.pos; i++) {
        const x = n.slots[i];
        if (!x) { k++; continue; }
        if (!sameElem(this.type, x, d)) continue;
        if (this.expired(x)) break;
        n.slots[i] = null;
        if (i + 1 === n.pos) n.pos--;
        this.elements--;
        if (this.hasNets) this.delCidr(x.cidr);
        for (; i < n.pos; i++) if (!n.slots[i]) k++;
        if (n.pos === 0 && k === 0) this.buckets[key] = undefined;
        else if (k >= AHASH_INIT_SIZE) {
          this.compact(n);
          n.size -= AHASH_INIT_SIZE;
        }
        return;
      }
    }
    if (!exist) throw new IpsetError(ERR.notAdded);
  }

  private lookup(d: IpsetEntry): IpsetEntry | null {
    this.lookups++;
    const n = this.buckets[this.hkey(d)];
    if (!n) return null;
    for (let i = 0; i < n.pos; i++) {
      const x = n.slots[i];
      if (x && sameElem(this.type, x, d) && !this.expired(x)) return x;
    }
    return null;
  }

  /**
   * mtype_test. A host-sized element of a net type is tried against every
   * prefix in use, most specific first (mtype_test_cidrs); the first equal
   * element decides, whether it is a match or a nomatch entry.
   */
  testEntry(d: IpsetEntry): IpsetEntry | null {
    if (this.pending !== null) {
      const pd = this.pending;
      if (this.type === 'hash:net' && d.cidr === 32) {
        // mtype_test_cidrs over the prefixes the filled table would have: one bucket lookup each.
        for (const cidr of pd.prefixes) {
          this.lookups++;
          const masked = (d.ip & maskOf(cidr)) >>> 0;
          if (pd.hasNet(masked, cidr)) return this.pendingEntry(masked, cidr);
        }
        return null;
      }
      // One bucket lookup of the table these addresses would fill.
      this.lookups++;
      if (!pd.hasNet(d.ip, d.cidr)) return null;
      return this.pendingEntry(d.ip, d.cidr);
    }
    if (this.hasNets && d.cidr === 32) {
      const orig = this.type === 'hash:ip,port,net' ? d.ip2 : d.ip;
      const p = this.probe;
      p.ip = d.ip; p.ip2 = d.ip2; p.port = d.port; p.proto = d.proto;
      for (const { cidr } of this.nets) {
        const masked = (orig & maskOf(cidr)) >>> 0;
        if (this.type === 'hash:ip,port,net') p.ip2 = masked;
        else p.ip = masked;
        p.cidr = cidr;
        const x = this.lookup(p);
        if (x) return x;
      }
      return null;
    }
    return this.lookup(d);
  }

  /** What a membership test of `pending` returns: a permanent entry as the table would hold it. */
  private pendingEntry(ip: number, cidr: number): IpsetEntry {
    const hit = (this.pendingHit ??= new IpsetEntry());
    hit.ip = ip;
    hit.cidr = cidr;
    return hit;
  }

  flush(): void {
    this.pending = null;
    this.buckets = new Array(1 << this.bits);
    this.elements = 0;
    this.nets.length = 0;
  }

  entries(): IpsetEntry[] {
    this.materialize();
    const out: IpsetEntry[] = [];
    for (const n of this.buckets) {
      if (!n) continue;
      for (let j = 0; j < n.pos; j++) {
        const x = n.slots[j];
        if (x && !this.expired(x)) out.push(x);
      }
    }
    return out;
  }

  elemString(e: IpsetEntry): string {
    const net = (ip: number, c: number): string => (c === 32 ? ipToString(ip) : `${ipToString(ip)}/${c}`);
    switch (this.type) {
      case 'hash:ip': return ipToString(e.ip);
      case 'hash:ip,port': return `${ipToString(e.ip)},${protoPortString(e.proto, e.port)}`;
      case 'hash:ip,port,ip': return `${ipToString(e.ip)},${protoPortString(e.proto, e.port)},${ipToString(e.ip2)}`;
      case 'hash:ip,port,net': return `${ipToString(e.ip)},${protoPortString(e.proto, e.port)},${net(e.ip2, e.cidr)}`;
      case 'hash:net': return net(e.ip, e.cidr);
      case 'hash:net,port': return `${net(e.ip, e.cidr)},${protoPortString(e.proto, e.port)}`;
      default: return '';
    }
  }
}

/** bitmap:port: one bit per port of the range (ip_set_bitmap_port.c). */
export class BitmapPortSet extends IpSet {
  readonly from: number;
  readonly to: number;
  private readonly bits: Uint8Array;
  /** Extensions per port, only when the set has any. */
  private readonly ext = new Map<number, IpsetEntry>();
  constructor(name: string, opts: IpsetCreateOpts, reg: Ipsets) {
    super(name, 'bitmap:port', opts, reg);
    this.from = opts.range!.from;
    this.to = opts.range!.to;
    this.bits = new Uint8Array(this.to - this.from + 1);
  }
  private get hasExt(): boolean {
    return this.withTimeout || !!this.opts.counters || !!this.opts.comment || !!this.opts.skbinfo;
  }
  header(): string {
    return `range ${this.from}-${this.to}${this.extFlags()}`;
  }
  private live(port: number): IpsetEntry | null {
    if (port < this.from || port > this.to || !this.bits[port - this.from]) return null;
    const x = this.ext.get(port);
    if (x) return this.expired(x) ? null : x;
    const e = new IpsetEntry();
    e.port = port;
    return e;
  }
  add(d: IpsetEntry, exist: boolean): void {
    if (d.port < this.from || d.port > this.to) throw new IpsetError(ERR.range);
    const cur = this.live(d.port);
    if (cur && !exist) throw new IpsetError(ERR.added);
    this.bits[d.port - this.from] = 1;
    if (this.hasExt) this.ext.set(d.port, d);
  }
  del(d: IpsetEntry, exist: boolean): void {
    if (d.port < this.from || d.port > this.to) throw new IpsetError(ERR.range);
    if (!this.live(d.port)) {
      if (exist) return;
      throw new IpsetError(ERR.notAdded);
    }
    this.bits[d.port - this.from] = 0;
    this.ext.delete(d.port);
  }
  testEntry(d: IpsetEntry): IpsetEntry | null {
    return this.live(d.port);
  }
  flush(): void {
    this.bits.fill(0);
    this.ext.clear();
  }
  entries(): IpsetEntry[] {
    const out: IpsetEntry[] = [];
    for (let p = this.from; p <= this.to; p++) {
      const x = this.live(p);
      if (x) out.push(x);
    }
    return out;
  }
  elemString(e: IpsetEntry): string {
    return String(e.port);
  }
}

/** list:set: an ordered list of other sets (ip_set_list_set.c). */
export class ListSet extends IpSet {
  members: IpsetEntry[] = [];
  readonly size: number;
  constructor(name: string, opts: IpsetCreateOpts, reg: Ipsets) {
    super(name, 'list:set', opts, reg);
    this.size = Math.max(opts.size ?? 8, 4);
  }
  header(): string {
    return `size ${this.size}${this.extFlags()}`;
  }
  private liveMembers(): IpsetEntry[] {
    return this.members.filter((m) => !this.expired(m));
  }
  add(d: IpsetEntry, exist: boolean): void {
    this.reg.addToList(this, d, exist);
  }
  del(d: IpsetEntry, exist: boolean): void {
    this.reg.delFromList(this, d, exist);
  }
  testEntry(d: IpsetEntry): IpsetEntry | null {
    return this.liveMembers().find((m) => m.member === d.member) ?? null;
  }
  flush(): void {
    for (const m of this.members) this.reg.unrefIndex(m.member);
    this.members = [];
  }
  entries(): IpsetEntry[] {
    return this.liveMembers();
  }
  elemString(e: IpsetEntry): string {
    return this.reg.nameAt(e.member);
  }
}

/** Additive options of IpsetRegistry.test (xt_set's match flags). */
export type { IpsetTestOpts };

/** A deterministic default for the initval draws (xorshift32), when no PRNG is given. */
function defaultRandom(): () => number {
  let s = 0x2545f491;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

export interface IpsetsOptions {
  /** Virtual time in ns. */
  now: () => number;
  /** Uniform 32-bit draws for initvals (get_random_bytes); a fixed xorshift sequence when absent. */
  random?: () => number;
}

/**
 * The ipsets of one network namespace. Every mutating method throws
 * IpsetError with the tool's message; nothing is changed when it throws.
 */
export class Ipsets implements IpsetRegistry {
  readonly now: () => number;
  private readonly random: () => number;
  /** ip_set_list: index → set (null = free). */
  private readonly slots: (IpSet | null)[] = [];
  private readonly byName = new Map<string, number>();
  /** Set tests performed through test() (emulated cost: one per ip_set_test call). */
  tests = 0;
  /** Work on these sets that their owner deferred (`deferUntilUsed`), run before any other use. */
  private deferred: (() => void) | null = null;
  /** Initvals drawn ahead (`predraw`), consumed by creates before the PRNG is asked again. */
  private predrawn = new Uint32Array(0);
  private predrawnAt = 0;

  constructor(opts: IpsetsOptions) {
    this.now = opts.now;
    this.random = opts.random ?? defaultRandom();
  }

  // ---------------------------------------------------------- deferral ----

  /**
   * Defers changes to these sets until anything next uses them: `settle` runs
   * (once) before any lookup, command, listing or packet test. An agent that
   * applies its sync lazily sets it, so a reader never sees the sets before
   * the sync. `settle` is expected to make the deferred changes (through this
   * registry: nothing it calls waits for it).
   */
  deferUntilUsed(settle: () => void): void {
    if (this.deferred !== null) throw new Error('Ipsets.deferUntilUsed: work is deferred already');
    this.deferred = settle;
  }

  /** Whether deferred work waits (deferUntilUsed). */
  get deferring(): boolean { return this.deferred !== null; }

  /** Runs the deferred work now, if any. */
  settle(): void {
    const d = this.deferred;
    if (d === null) return;
    this.deferred = null;
    d();
  }

  /**
   * Draws `n` initvals now, in the order creates would draw them, for creates
   * made later (deferred work): they take these before drawing again, so the
   * PRNG sequence is the one of creating the sets now.
   */
  predraw(n: number): void {
    if (this.predrawnAt < this.predrawn.length) throw new Error('Ipsets.predraw: earlier draws are unused');
    // A typed array: thousands of nodes keep theirs until their deferred sync is applied.
    const d = (this.predrawn = new Uint32Array(n));
    this.predrawnAt = 0;
    for (let i = 0; i < n; i++) d[i] = this.random() >>> 0;
  }

  /** Predrawn initvals not yet used by a create. */
  get predrawnLeft(): number { return this.predrawn.length - this.predrawnAt; }

  private drawInitval(): number {
    if (this.predrawnAt < this.predrawn.length) return this.predrawn[this.predrawnAt++];
    return this.random() >>> 0;
  }

  // ------------------------------------------------------------ lookup ----

  has(name: string): boolean {
    if (this.deferred !== null) this.settle();
    return this.byName.has(name);
  }
  get(name: string): IpSet | undefined {
    if (this.deferred !== null) this.settle();
    const i = this.byName.get(name);
    return i === undefined ? undefined : this.slots[i]!;
  }
  private must(name: string): IpSet {
    const s = this.get(name);
    if (!s) throw new IpsetError(ERR.noSet);
    return s;
  }
  /** Sets in save order: index order, list:set types last. */
  list(): IpSet[] {
    if (this.deferred !== null) this.settle();
    const live = this.slots.filter((s): s is IpSet => s !== null);
    return [...live.filter((s) => s.type !== 'list:set'), ...live.filter((s) => s.type === 'list:set')];
  }
  /** @internal */
  nameAt(index: number): string {
    if (this.deferred !== null) this.settle();
    return this.slots[index]!.name;
  }
  /** @internal */
  unrefIndex(index: number): void {
    const s = this.slots[index];
    if (s) s.ref--;
  }

  // ------------------------------------------------------- references ----

  /** A rule (or other kernel user) now refers to the set: it cannot be destroyed or renamed. */
  ref(name: string): void {
    if (this.deferred !== null) this.settle();
    this.must(name).ref++;
  }
  unref(name: string): void {
    if (this.deferred !== null) this.settle();
    const s = this.must(name);
    if (s.ref > 0) s.ref--;
  }

  // --------------------------------------------------------- commands ----

  create(name: string, type: IpsetType, opts: IpsetCreateOpts = {}, exist = false): void {
    if (this.deferred !== null) this.settle();
    if (name.length === 0 || name.length > 31) throw syntax(`setname '${name}' is longer than 31 characters`);
    if (!IPSET_TYPES.includes(type)) throw syntax(`typename '${type}' is unknown`);
    if (opts.timeout !== undefined && (opts.timeout < 0 || opts.timeout > MAX_TIMEOUT)) {
      throw syntax(`'${opts.timeout}' is out of range 0-${MAX_TIMEOUT}`);
    }
    if (type === 'bitmap:port') {
      if (!opts.range) throw new IpsetError(ERR.missingRange);
      const { from, to } = opts.range;
      opts = { ...opts, range: from <= to ? { from, to } : { from: to, to: from } };
    }
    const cur = this.get(name);
    if (cur) {
      if (exist && cur.type === type && sameCreate(cur.opts, opts)) return;
      throw new IpsetError(ERR.exists);
    }
    let set: IpSet;
    if (type === 'bitmap:port') set = new BitmapPortSet(name, opts, this);
    else if (type === 'list:set') set = new ListSet(name, opts, this);
    else set = new HashSet(name, type, opts, this, opts.initval ?? this.drawInitval());
    let idx = this.slots.indexOf(null);
    if (idx < 0) idx = this.slots.push(null) - 1;
    this.slots[idx] = set;
    this.byName.set(name, idx);
  }

  /** `ipset destroy [NAME]`: without a name, every set (and none if any is referenced). */
  destroy(name?: string): void {
    if (this.deferred !== null) this.settle();
    if (name === undefined) {
      for (const s of this.slots) if (s && s.ref > 0) throw new IpsetError(ERR.destroyBusy);
      for (const s of this.slots) if (s instanceof ListSet) s.flush();
      this.slots.length = 0;
      this.byName.clear();
      return;
    }
    const i = this.byName.get(name);
    if (i === undefined) throw new IpsetError(ERR.noSet);
    const s = this.slots[i]!;
    if (s.ref > 0) throw new IpsetError(ERR.destroyBusy);
    if (s instanceof ListSet) s.flush();
    this.slots[i] = null;
    this.byName.delete(name);
  }

  /** `ipset flush [NAME]`. */
  flush(name?: string): void {
    if (this.deferred !== null) this.settle();
    if (name === undefined) {
      for (const s of this.slots) s?.flush();
      return;
    }
    this.must(name).flush();
  }

  rename(from: string, to: string): void {
    if (this.deferred !== null) this.settle();
    const i = this.byName.get(from);
    if (i === undefined) throw new IpsetError(ERR.noSet);
    const s = this.slots[i]!;
    if (s.ref > 0) throw new IpsetError(ERR.renameBusy);
    if (this.byName.has(to)) throw new IpsetError(ERR.renameExists);
    this.byName.delete(from);
    s.name = to;
    this.byName.set(to, i);
  }

  /** `ipset swap A B`: contents (type, elements, options) exchange; names and references stay. */
  swap(a: string, b: string): void {
    if (this.deferred !== null) this.settle();
    const i = this.byName.get(a);
    if (i === undefined) throw new IpsetError(ERR.noSet);
    const j = this.byName.get(b);
    if (j === undefined) throw new IpsetError(ERR.swapNoSecond);
    const x = this.slots[i]!, y = this.slots[j]!;
    if (FEATURES[x.type] !== FEATURES[y.type]) throw new IpsetError(ERR.swapType);
    [x.name, y.name] = [y.name, x.name];
    [x.ref, y.ref] = [y.ref, x.ref];
    this.slots[i] = y;
    this.slots[j] = x;
  }

  /** `ipset add NAME ELEM [opts]`. A range/CIDR element of a non-net type adds every member. */
  add(name: string, elem: string, opts: IpsetAddOpts = {}): void {
    if (this.deferred !== null) this.settle();
    const s = this.must(name);
    const list = this.parseElem(s, elem, opts, true);
    for (const e of list) s.add(e, !!opts.exist);
  }

  /**
   * `add -exist` of each address of `addrs` to hash:ip set `name` (entries without
   * timeout or options), or of each net to hash:net set `name`: what an `ipset
   * restore -exist` of those add lines does, with the set's table filled when first
   * needed (HashSet.adopt).
   */
  addShared(name: string, addrs: SharedAddresses): void {
    if (this.deferred !== null) this.settle();
    const s = this.must(name);
    if (!(s instanceof HashSet) || !(s.type === 'hash:net' || (s.type === 'hash:ip' && addrs.cidrs === null))) {
      throw new IpsetError(`addShared: ${name} is not a hash:ip set (of addresses) or a hash:net set`);
    }
    s.adopt(addrs);
  }

  /** `ipset del NAME ELEM`. */
  del(name: string, elem: string, opts: IpsetAddOpts = {}): void {
    if (this.deferred !== null) this.settle();
    const s = this.must(name);
    const list = this.parseElem(s, elem, opts, false);
    for (const e of list) s.del(e, !!opts.exist);
  }

  /** `ipset test NAME ELEM`: true when in the set (a nomatch entry is "NOT in set"). */
  testElem(name: string, elem: string, opts: IpsetAddOpts = {}): boolean {
    if (this.deferred !== null) this.settle();
    const s = this.must(name);
    const list = this.parseElem(s, elem, opts, false);
    if (s instanceof ListSet) {
      const m = s.testEntry(list[0]);
      if (!m) return false;
      return this.listPositionOk(s, m, opts);
    }
    for (const e of list) {
      const x = s.testEntry(e);
      if (!x || x.nomatch) return false;
    }
    return true;
  }

  private listPositionOk(s: ListSet, m: IpsetEntry, opts: IpsetAddOpts): boolean {
    const live = s.entries();
    const i = live.indexOf(m);
    const refName = opts.before ?? opts.after;
    if (refName === undefined) return true;
    const r = this.byName.get(refName);
    if (r === undefined) throw new IpsetError(ERR.refMissing);
    return opts.before !== undefined ? live[i + 1]?.member === r : live[i - 1]?.member === r;
  }

  // ---------------------------------------------------------- list:set ----

  /** @internal list:set add with before/after (list_set_uadd). */
  addToList(s: ListSet, d: IpsetEntry, exist: boolean): void {
    const live = s.entries();
    const cur = live.find((m) => m.member === d.member);
    let refIdx = -1;
    const pos = d.listPos;
    if (pos) {
      refIdx = s.members.findIndex((m) => m.member === pos.ref && !s.expired(m));
      if (refIdx < 0) throw new IpsetError(ERR.refNotAdded);
    }
    if (cur) {
      if (!exist) throw new IpsetError(ERR.added);
      cur.expires = d.expires;
      if (s.opts.comment) cur.comment = d.comment;
      if (s.opts.counters) { cur.packets = d.packets; cur.bytes = d.bytes; }
      return;
    }
    // Drop expired members first (the kernel's list_set_uadd calls set_cleanup_entries).
    for (let i = s.members.length - 1; i >= 0; i--) {
      if (s.expired(s.members[i])) {
        this.unrefIndex(s.members[i].member);
        s.members.splice(i, 1);
      }
    }
    if (pos) refIdx = s.members.findIndex((m) => m.member === pos.ref);
    this.slots[d.member]!.ref++;
    if (!pos) s.members.push(d);
    else s.members.splice(pos.before ? refIdx : refIdx + 1, 0, d);
  }

  /** @internal */
  delFromList(s: ListSet, d: IpsetEntry, exist: boolean): void {
    const i = s.members.findIndex((m) => m.member === d.member && !s.expired(m));
    if (i < 0) {
      if (exist) return;
      throw new IpsetError(ERR.notAdded);
    }
    const pos = d.listPos;
    if (pos) {
      const other = pos.before ? s.members[i + 1] : s.members[i - 1];
      if (!other || other.member !== pos.ref) throw new IpsetError(ERR.notAdded);
    }
    this.unrefIndex(s.members[i].member);
    s.members.splice(i, 1);
  }

  // ------------------------------------------------------------ parsing ----

  /** Element text → entries (ranges expanded), with the per-entry options checked against the set. */
  private parseElem(s: IpSet, elem: string, opts: IpsetAddOpts, adding: boolean): IpsetEntry[] {
    if (opts.timeout !== undefined) {
      if (!s.withTimeout) throw new IpsetError(ERR.noTimeout);
      if (opts.timeout < 0 || opts.timeout > MAX_TIMEOUT) throw syntax(`'${opts.timeout}' is out of range 0-${MAX_TIMEOUT}`);
    }
    if (opts.comment !== undefined && !s.opts.comment) throw new IpsetError(ERR.noComment);
    if ((opts.packets !== undefined || opts.bytes !== undefined) && !s.opts.counters) throw new IpsetError(ERR.noCounters);
    if ((opts.skbmark || opts.skbprio || opts.skbqueue !== undefined) && !s.opts.skbinfo) throw new IpsetError(ERR.noSkbinfo);
    if (opts.nomatch && !(FEATURES[s.type] & F_NOMATCH)) throw new IpsetError("Unknown argument: `nomatch'");
    const timeout = opts.timeout ?? s.opts.timeout ?? 0;
    const mk = (): IpsetEntry => {
      const e = new IpsetEntry();
      if (adding) {
        e.expires = s.withTimeout && timeout > 0 ? this.now() + timeout * NS : 0;
        e.nomatch = !!opts.nomatch;
        e.comment = opts.comment ?? null;
        e.packets = opts.packets ?? 0;
        e.bytes = opts.bytes ?? 0;
        e.skbmark = opts.skbmark ?? null;
        e.skbprio = opts.skbprio ?? null;
        e.skbqueue = opts.skbqueue ?? null;
      }
      return e;
    };
    if (s.type === 'list:set') {
      const i = this.byName.get(elem);
      if (i === undefined) throw new IpsetError(ERR.memberMissing);
      if (this.slots[i]!.type === 'list:set') throw new IpsetError(ERR.listOfList);
      const e = mk();
      e.member = i;
      const refName = opts.before ?? opts.after;
      if (refName !== undefined) {
        const r = this.byName.get(refName);
        if (r === undefined) throw new IpsetError(ERR.refMissing);
        e.listPos = { before: opts.before !== undefined, ref: r };
      }
      return [e];
    }
    if (s.type === 'bitmap:port') {
      const body = elem.includes(':') ? elem : `tcp:${elem}`;
      const colon = body.indexOf(':');
      const rest = body.slice(colon + 1);
      const dash = rest.indexOf('-');
      const a = parseNumber(dash >= 0 ? rest.slice(0, dash) : rest, 65535);
      const b = dash >= 0 ? parseNumber(rest.slice(dash + 1), 65535) : a;
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      const bs = s as BitmapPortSet;
      if (lo < bs.from || hi > bs.to) throw new IpsetError(ERR.range);
      const out: IpsetEntry[] = [];
      for (let p = lo; p <= hi; p++) { const e = mk(); e.port = p; out.push(e); }
      return out;
    }
    const parts = elem.split(',');
    const dims = IPSET_DIMENSION[s.type];
    if (parts.length > dims) {
      if (dims === 1) throw syntax(`Elem separator in ${elem}, but settype ${s.type} supports none.`);
      throw syntax(`Elem separator in ${elem}, but settype ${s.type} supports ${dims - 1}.`);
    }
    if (parts.length < dims) {
      throw syntax(`${parts.length === 1 ? 'Second' : 'Third'} element is missing from ${elem}.`);
    }
    const first = parseIpSpec(parts[0]);
    const netFirst = s.type === 'hash:net' || s.type === 'hash:net,port';
    const out: IpsetEntry[] = [];
    // The first dimension: hosts (expanded) or networks (range split into CIDRs).
    let firsts: [number, number][];
    if (netFirst) {
      if (first.hasCidr && first.cidr === 0) throw new IpsetError(ERR.cidr);
      firsts = first.isRange ? rangeToCidrs(first.from, first.to) : [[first.from, first.cidr]];
    } else {
      if (first.to - first.from >= 1 << 20) throw new IpsetError(ERR.rangeTooBig);
      firsts = [];
      for (let ip = first.from; ip <= first.to; ip++) firsts.push([ip, 32]);
    }
    let ports: [number, number, number] = [0, 0, 0];
    if (dims >= 2) ports = parseProtoPort(parts[1]);
    let thirds: [number, number][] = [[0, 32]];
    if (dims === 3) {
      const t = parseIpSpec(parts[2]);
      if (s.type === 'hash:ip,port,net') {
        if (t.hasCidr && t.cidr === 0) throw new IpsetError(ERR.cidr);
        thirds = t.isRange ? rangeToCidrs(t.from, t.to) : [[t.from, t.cidr]];
      } else {
        thirds = [];
        for (let ip = t.from; ip <= t.to; ip++) thirds.push([ip, 32]);
      }
    }
    for (const [ip, cidr] of firsts) {
      if (ip === 0 && !netFirst) throw new IpsetError(ERR.nullElem);
      for (let port = ports[1]; port <= ports[2]; port++) {
        for (const [ip2, c2] of thirds) {
          const e = mk();
          e.ip = ip;
          e.proto = ports[0];
          e.port = port;
          if (netFirst) e.cidr = cidr;
          else if (s.type === 'hash:ip,port,net') { e.ip2 = ip2; e.cidr = c2; }
          else e.ip2 = ip2;
          out.push(e);
        }
      }
    }
    return out;
  }

  // --------------------------------------------------------- data path ----

  /**
   * ip_set_test for `-m set --match-set NAME FLAGS`: builds the element from
   * the packet as the type's kadt does and looks it up. Fewer flags than the
   * type's dimension never match (opt->dim < set->type->dimension).
   */
  test(name: string, flags: readonly ('src' | 'dst')[], p: PacketCtx, opts?: IpsetTestOpts): boolean {
    if (this.deferred !== null) this.settle();
    const i = this.byName.get(name);
    if (i === undefined) return false;
    return this.testIndex(i, flags, p, opts);
  }

  private testIndex(i: number, flags: readonly ('src' | 'dst')[], p: PacketCtx, opts?: IpsetTestOpts): boolean {
    this.tests++;
    const s = this.slots[i];
    if (!s) return false;
    if (flags.length < IPSET_DIMENSION[s.type]) return false;
    if (s instanceof ListSet) {
      // list_set_ktest: members skip their own counter update with ! --update-subcounters.
      const sub: IpsetTestOpts | undefined = opts?.updateSubcounters === false ? { ...opts, updateCounters: false } : opts;
      for (const m of s.entries()) {
        if (this.testIndex(m.member, flags, p, sub)) {
          if (s.opts.counters && opts?.updateCounters !== false) { m.packets++; m.bytes += pktLen(p); }
          return true;
        }
      }
      return false;
    }
    const d = scratch;
    d.ip = 0; d.ip2 = 0; d.port = 0; d.proto = 0; d.cidr = 32;
    if (s.type === 'bitmap:port') {
      if (!getIp4Port(p, flags[0] === 'src', d) || (d.proto !== 6 && d.proto !== 17)) return false;
    } else {
      d.ip = flags[0] === 'src' ? p.saddr : p.daddr;
      if (s.type !== 'hash:ip' && s.type !== 'hash:net') {
        if (!getIp4Port(p, flags[1] === 'src', d)) return false;
      }
      if (s.type === 'hash:ip,port,ip' || s.type === 'hash:ip,port,net') d.ip2 = flags[2] === 'src' ? p.saddr : p.daddr;
      if (s.type === 'hash:net' || s.type === 'hash:net,port' || s.type === 'hash:ip,port,net') {
        if ((s as HashSet).netCount() === 0) return false;
      }
    }
    const x = s.testEntry(d);
    if (!x) return false;
    // ip_set_match_extensions: counter comparisons, then counter update.
    if (s.opts.counters && opts) {
      if (opts.packets && !cmp(x.packets, opts.packets.op, opts.packets.value)) return false;
      if (opts.bytes && !cmp(x.bytes, opts.bytes.op, opts.bytes.value)) return false;
    }
    if (s.opts.counters && opts?.updateCounters !== false) { x.packets++; x.bytes += pktLen(p); }
    const hit = !x.nomatch;
    // --return-nomatch inverts the answer for types with nomatch entries.
    if (opts?.returnNomatch && FEATURES[s.type] & F_NOMATCH) return !hit;
    return hit;
  }

  // ------------------------------------------------------------- output ----

  /** `ipset save [NAME]` text: create lines then add lines per set, each line ending in a newline. */
  save(name?: string): string {
    const sets = name === undefined ? this.list() : [this.must(name)];
    let out = '';
    for (const s of sets) {
      out += `create ${s.name} ${s.type} ${s.header()}\n`;
      const withNomatch = (FEATURES[s.type] & F_NOMATCH) !== 0;
      for (const e of s.entries()) out += `add ${s.name} ${s.elemString(e)}${s.extString(e, withNomatch)}\n`;
    }
    return out;
  }

  /** Number of live entries of a set. */
  size(name: string): number {
    return this.must(name).entries().length;
  }
}

const scratch = new IpsetEntry();

/** skb->len at the IPv4 hooks: the IP total length. */
function pktLen(p: PacketCtx): number {
  const nh = p.skb.nh;
  return nh >= 0 ? (p.skb.buf[nh + 2] << 8) | p.skb.buf[nh + 3] : p.skb.len;
}

function cmp(v: number, op: 'eq' | 'ne' | 'lt' | 'gt', x: number): boolean {
  switch (op) {
    case 'eq': return v === x;
    case 'ne': return v !== x;
    case 'lt': return v < x;
    case 'gt': return v > x;
  }
}

/**
 * ip_set_get_ip4_port: the port (ICMP: type << 8 | code) and protocol of the
 * packet. Later fragments of TCP/UDP/UDPLITE/SCTP/ICMP give nothing; other
 * protocols (also in later fragments) give port 0 and their number. A header
 * too short for its protocol gives nothing (skb_header_pointer fails).
 */
function getIp4Port(p: PacketCtx, src: boolean, d: IpsetEntry): boolean {
  const proto = p.proto;
  if (proto <= 0) return false;
  const l4proto = proto === 6 || proto === 17 || proto === 132 || proto === 136 || proto === 1;
  if (p.fragOff !== 0 || p.l4 < 0) {
    if (l4proto) return false;
    d.proto = proto;
    d.port = 0;
    return true;
  }
  const b = p.skb.buf, o = p.l4;
  switch (proto) {
    case 6:
      if (p.l4len < 20) return false;
      d.port = src ? p.sport : p.dport;
      break;
    case 17:
      if (p.l4len < 8) return false;
      d.port = src ? p.sport : p.dport;
      break;
    case 132:
      if (p.l4len < 12) return false;
      d.port = src ? p.sport : p.dport;
      break;
    case 136:
      if (p.l4len < 8) return false;
      d.port = src ? (b[o] << 8) | b[o + 1] : (b[o + 2] << 8) | b[o + 3];
      break;
    case 1:
      if (p.l4len < 8) return false;
      d.port = (b[o] << 8) | b[o + 1];
      break;
    default:
      d.port = 0;
  }
  d.proto = proto;
  return true;
}

/** mtype_same_set and friends: what `create -exist` compares (hashsize, initval and bucketsize may differ). */
function sameCreate(a: IpsetCreateOpts, b: IpsetCreateOpts): boolean {
  return (a.maxelem ?? 65536) === (b.maxelem ?? 65536) &&
    a.timeout === b.timeout &&
    !!a.counters === !!b.counters && !!a.comment === !!b.comment && !!a.skbinfo === !!b.skbinfo &&
    !!a.forceadd === !!b.forceadd &&
    (a.range?.from ?? -1) === (b.range?.from ?? -1) && (a.range?.to ?? -1) === (b.range?.to ?? -1) &&
    (a.size ?? 8) === (b.size ?? 8);
}
