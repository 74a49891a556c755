/**
 * Calico IPAM (libcalico-go lib/ipam, IPv4): IP pools cut into blocks, blocks affine to
 * nodes, claimed on demand, addresses handed out from the node's blocks.
 *
 * Facts followed (read in libcalico-go lib/ipam: ipam.go, ipam_block_reader_writer.go,
 * allocation_block.go; lib/apis/v3 IPPool):
 * - IPPool: `cidr` (host bits dropped, as the API stores it), `blockSize` default 26,
 *   20..32 for IPv4 and at least the pool's prefix length ("IP pool size is too small"),
 *   `ipipMode` Always|CrossSubnet|Never (default Never), `vxlanMode` (only Never here),
 *   `natOutgoing`, `disabled`, `nodeSelector` (default `all()`). Pools may not overlap.
 * - A block is created with every ordinal unallocated in order 0..n−1; an assignment takes
 *   ordinals from the front of that list, a release appends the ordinal at its end. So the
 *   block's network address (ordinal 0, e.g. 10.244.1.0 of 10.244.1.0/26) is handed out —
 *   Calico uses it: the first allocation on a fresh node is usually the tunl0 address.
 * - autoAssign for a host: first the host's affine blocks (in claim order), then, when
 *   none has room, a new block is claimed for the host: findUnclaimedBlock walks each pool
 *   from a starting block chosen by a random generator seeded per host (upstream: the FNV-32
 *   hash of the host name; here: a seed drawn once from the run's Rng, mixed with that
 *   hash, so the same host starts at the same block every time within a run), block by
 *   block with wrap-around, and takes the first block that does not exist yet. For /32
 *   blocks upstream seeds from the clock: here each search draws its start from the Rng.
 *   When every block exists and strictAffinity is off (the default), an address is borrowed
 *   from another host's block (walked in the same order) — the block keeps its affinity.
 * - The tunnel address of tunl0 is an ordinary assignment with handle
 *   `ipip-tunnel-addr-<node>` from the node's pools whose ipipMode is not Never
 *   (calico-node allocateip.go); on a fresh node it is ordinal 0 of its first block.
 * - Releasing an address frees its ordinal; an empty block keeps its affinity (it stays
 *   the node's), an empty block without affinity is deleted. releaseHostAffinities (what the
 *   node controller does when a Node is deleted, mustBeEmpty=true) deletes the node's empty
 *   blocks and their affinities and leaves the non-empty ones; with mustBeEmpty=false the
 *   non-empty blocks lose their affinity instead.
 * - Observers hear every block claim and every affinity release, in order (the BGP speaker
 *   turns them into `blackhole <block> proto bird` routes and advertisements).
 *
 * Deterministic: one Rng draw when the IPAM is created, and one per /32-block search.
 * Not modelled: IPv6, reservations (IPReservation), maxBlocksPerHost, pool node selectors
 * other than `all()`, allowedUses, namespace/pod pool annotations, handle-less releases of
 * in-use affinities by other hosts, block-claim races between hosts.
 */
import { Rng } from '../engine/rng.js';
import { formatCidr4, formatIPv4, networkOf, parseCidr4, parseIPv4 } from '../cni/ip4.js';

export type IpipMode = 'Always' | 'CrossSubnet' | 'Never';
export type VxlanMode = 'Never';

/** An IPPool as written (projectcalico.org/v3 IPPool spec plus its name). */
export interface IPPoolSpec {
  name: string;
  cidr: string;
  blockSize?: number;
  ipipMode?: IpipMode;
  vxlanMode?: VxlanMode;
  natOutgoing?: boolean;
  disabled?: boolean;
  nodeSelector?: string;
}

/** A validated pool with its defaults. */
export interface IPPool {
  readonly name: string;
  /** "10.244.0.0/16" (network address). */
  readonly cidr: string;
  readonly network: number;
  readonly prefix: number;
  readonly blockSize: number;
  readonly ipipMode: IpipMode;
  readonly vxlanMode: VxlanMode;
  readonly natOutgoing: boolean;
  readonly disabled: boolean;
  readonly nodeSelector: string;
}

export class IpamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IpamError';
  }
}

/** One allocation block (model.AllocationBlock). */
export interface IpamBlock {
  /** "10.244.1.0/26". */
  readonly cidr: string;
  readonly network: number;
  readonly prefix: number;
  readonly pool: IPPool;
  /** `host:<node>` affinity's node, or null. */
  affinity: string | null;
  /** Per ordinal: the handle holding it, or null. */
  readonly allocations: (string | null)[];
  /** Free ordinals in the order they will be handed out. */
  readonly unallocated: number[];
  /** Per ordinal: the attributes given with the allocation. */
  readonly attrs: (Readonly<Record<string, string>> | null)[];
}

export interface BlockEvent {
  kind: 'claim' | 'release';
  /** The node the block is (was) affine to. */
  host: string;
  /** "10.244.1.0/26". */
  cidr: string;
  pool: string;
}

export type BlockObserver = (e: BlockEvent) => void;

export interface AutoAssignArgs {
  /** The allocation handle (`k8s-pod-network.<containerID>`, `ipip-tunnel-addr-<node>`). */
  handle: string;
  /** The node asking. */
  host: string;
  /** Addresses wanted (default 1). */
  num?: number;
  /** Pools to use, by name or CIDR (default: every enabled pool selecting the node). */
  pools?: readonly string[];
  attrs?: Record<string, string>;
}

/** The handle calico-node uses for a node's tunl0 address. */
export function ipipTunnelHandle(node: string): string {
  return `ipip-tunnel-addr-${node}`;
}

/** FNV-1 32-bit (Go's hash/fnv New32) of a string's UTF-8 bytes. */
export function fnv32(s: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) {
    h = Math.imul(h, 0x01000193) >>> 0;
    h = (h ^ b) >>> 0;
  }
  return h >>> 0;
}

const MODES: readonly IpipMode[] = ['Always', 'CrossSubnet', 'Never'];

export class CalicoIpam {
  private readonly poolList: IPPool[] = [];
  /** Blocks by network address, in creation order. */
  private readonly blockMap = new Map<number, IpamBlock>();
  /** Handle → the blocks holding its addresses (ordinals held in each): ipsByHandle without a scan of every block. */
  private readonly handleBlocks = new Map<string, Map<IpamBlock, number>>();
  /** Node → its affine blocks in claim order. */
  private readonly affine = new Map<string, IpamBlock[]>();
  private readonly observers: BlockObserver[] = [];
  private readonly seed: number;

  /** `strictAffinity` (IPAMConfig): never borrow from another host's block. */
  strictAffinity = false;

  /** Draws one value from `rng` (the per-host walk seed). */
  constructor(private readonly rng: Rng) {
    this.seed = rng.u32();
  }

  // ── pools ──

  createPool(spec: IPPoolSpec): IPPool {
    const c = parseCidr4(spec.cidr);
    if (!c) throw new IpamError(`IPPool ${spec.name}: invalid cidr ${JSON.stringify(spec.cidr)}`);
    if (this.poolList.some((p) => p.name === spec.name)) throw new IpamError(`IPPool ${spec.name} already exists`);
    const blockSize = spec.blockSize ?? 26;
    if (!Number.isInteger(blockSize) || blockSize < 20 || blockSize > 32) throw new IpamError(`IPPool ${spec.name}: blockSize ${blockSize} out of range 20..32 for IPv4`);
    if (c.prefix > blockSize) throw new IpamError(`IPPool ${spec.name}: IP pool size is too small (/${c.prefix}) for use with Calico IPAM. It must be equal to or greater than the block size (/${blockSize})`);
    const ipipMode = spec.ipipMode ?? 'Never';
    if (!MODES.includes(ipipMode)) throw new IpamError(`IPPool ${spec.name}: ipipMode ${JSON.stringify(ipipMode)} is not one of ${MODES.join(', ')}`);
    const vxlanMode = spec.vxlanMode ?? 'Never';
    if (vxlanMode !== 'Never') throw new IpamError(`IPPool ${spec.name}: vxlanMode ${JSON.stringify(vxlanMode)} is not modelled (only Never)`);
    const nodeSelector = spec.nodeSelector ?? 'all()';
    if (nodeSelector.trim() !== 'all()') throw new IpamError(`IPPool ${spec.name}: nodeSelector ${JSON.stringify(nodeSelector)} is not modelled (only all())`);
    const network = networkOf(c.ip, c.prefix);
    for (const p of this.poolList) {
      const shorter = Math.min(p.prefix, c.prefix);
      if (networkOf(p.network, shorter) === networkOf(network, shorter)) throw new IpamError(`IPPool(${spec.name}) CIDR overlaps with IPPool(${p.name}) CIDR ${p.cidr}`);
    }
    const pool: IPPool = Object.freeze({
      name: spec.name, cidr: formatCidr4(network, c.prefix), network, prefix: c.prefix, blockSize, ipipMode, vxlanMode,
      natOutgoing: spec.natOutgoing ?? false, disabled: spec.disabled ?? false, nodeSelector,
    });
    this.poolList.push(pool);
    return pool;
  }

  pools(): readonly IPPool[] { return this.poolList; }

  pool(name: string): IPPool | undefined { return this.poolList.find((p) => p.name === name); }

  /** The pool holding `ip` ("a.b.c.d"), if any. */
  poolFor(ip: string): IPPool | undefined {
    const a = parseIPv4(ip);
    if (a === null) return undefined;
    return this.poolList.find((p) => networkOf(a, p.prefix) === p.network);
  }

  /** Enabled pools whose node selector picks `host` (all() does). */
  private hostPools(names?: readonly string[]): IPPool[] {
    if (names) {
      return names.map((n) => {
        // calico-ipam's ipv4_pools name pools by name or by CIDR.
        const c = parseCidr4(n);
        const p = this.pool(n) ?? (c ? this.poolList.find((x) => x.prefix === c.prefix && x.network === networkOf(c.ip, c.prefix)) : undefined);
        if (!p) throw new IpamError(`the given pool (${n}) does not exist`);
        if (p.disabled) throw new IpamError(`the given pool (${p.cidr}) is disabled`);
        return p;
      });
    }
    return this.poolList.filter((p) => !p.disabled);
  }

  // ── observers ──

  /** Calls `fn` for every block claim and affinity release from now on; returns the unsubscribe. */
  observe(fn: BlockObserver): () => void {
    this.observers.push(fn);
    return () => {
      const i = this.observers.indexOf(fn);
      if (i >= 0) this.observers.splice(i, 1);
    };
  }

  private emit(e: BlockEvent): void {
    for (const o of [...this.observers]) o(e);
  }

  // ── blocks ──

  /** Blocks affine to `host`, as "a.b.c.d/n", in claim order. */
  affineBlocks(host: string): string[] {
    return (this.affine.get(host) ?? []).map((b) => b.cidr);
  }

  /** Every block in creation order (read-only views). */
  blocks(): readonly IpamBlock[] { return [...this.blockMap.values()]; }

  /** The block holding `ip`, if it exists. */
  blockFor(ip: string): IpamBlock | undefined {
    const a = parseIPv4(ip);
    if (a === null) return undefined;
    // By network address under each pool's block size (every block has its pool's; pools are
    // never removed); the scan in creation order when several blocks could hold it.
    let hit: IpamBlock | undefined, hits = 0;
    for (const size of new Set(this.poolList.map((p) => p.blockSize))) {
      const b = this.blockMap.get(networkOf(a, size));
      if (b !== undefined && b.prefix === size) { hit = b; hits++; }
    }
    if (hits <= 1) return hit;
    for (const b of this.blockMap.values()) if (networkOf(a, b.prefix) === b.network) return b;
    return undefined;
  }

  private newBlock(pool: IPPool, network: number, host: string): IpamBlock {
    const n = 2 ** (32 - pool.blockSize);
    const b: IpamBlock = {
      cidr: formatCidr4(network, pool.blockSize), network, prefix: pool.blockSize, pool, affinity: host,
      allocations: new Array<string | null>(n).fill(null), unallocated: Array.from({ length: n }, (_, i) => i),
      attrs: new Array<Record<string, string> | null>(n).fill(null),
    };
    this.blockMap.set(network, b);
    let list = this.affine.get(host);
    if (!list) { list = []; this.affine.set(host, list); }
    list.push(b);
    this.emit({ kind: 'claim', host, cidr: b.cidr, pool: pool.name });
    return b;
  }

  /**
   * The block indices of `pool` in the order `host` walks them (randomBlockGenerator), made as
   * the walk goes (a /10 pool of /26 blocks has 65,536; a claim usually takes the first). The
   * start is drawn when the walk begins (callers begin at once).
   */
  private *walk(pool: IPPool, host: string): Generator<number> {
    const numBlocks = 2 ** (pool.blockSize - pool.prefix);
    // rand.New(rand.NewSource(seed)) per search: the same start for a host every time.
    const gen = pool.blockSize === 32 ? this.rng : new Rng((this.seed ^ fnv32(host)) | 0);
    const start = gen.int(0, numBlocks - 1);
    for (let i = 0; i < numBlocks; i++) yield (start + i) % numBlocks;
  }

  /** findUnclaimedBlock + claimAffineBlock: a block that does not exist yet, now affine to `host`; null when the pools are full. */
  private claimBlock(pools: IPPool[], host: string): IpamBlock | null {
    for (const pool of pools) {
      const size = 2 ** (32 - pool.blockSize);
      for (const i of this.walk(pool, host)) {
        const net = (pool.network + i * size) >>> 0;
        if (!this.blockMap.has(net)) return this.newBlock(pool, net, host);
      }
    }
    return null;
  }

  /** `n` more (or fewer) ordinals of `b` held by `handle` (the handle index ipsByHandle reads). */
  private noteHandle(handle: string, b: IpamBlock, n: 1 | -1): void {
    let m = this.handleBlocks.get(handle);
    if (m === undefined) { if (n < 0) return; this.handleBlocks.set(handle, (m = new Map())); }
    const k = (m.get(b) ?? 0) + n;
    if (k > 0) m.set(b, k);
    else { m.delete(b); if (m.size === 0) this.handleBlocks.delete(handle); }
  }

  private take(b: IpamBlock, handle: string, attrs: Record<string, string> | undefined): string {
    const ord = b.unallocated.shift()!;
    b.allocations[ord] = handle;
    this.noteHandle(handle, b, 1);
    b.attrs[ord] = attrs ? Object.freeze({ ...attrs }) : null;
    return formatIPv4((b.network + ord) >>> 0);
  }

  // ── assignment ──

  /**
   * AutoAssign: `num` addresses for `host` under `handle`, from the host's affine blocks,
   * then newly claimed blocks, then (without strict affinity) other hosts' blocks.
   * Throws IpamError when the pools cannot supply them (what was taken is released).
   */
  autoAssign(a: AutoAssignArgs): string[] {
    const num = a.num ?? 1;
    const pools = this.hostPools(a.pools);
    if (pools.length === 0) throw new IpamError(`no configured Calico pools for node ${a.host}`);
    const inPools = (b: IpamBlock) => pools.includes(b.pool);
    const out: string[] = [];
    for (const b of this.affine.get(a.host) ?? []) {
      while (out.length < num && inPools(b) && b.unallocated.length > 0) out.push(this.take(b, a.handle, a.attrs));
    }
    while (out.length < num) {
      const b = this.claimBlock(pools, a.host);
      if (!b) break;
      while (out.length < num && b.unallocated.length > 0) out.push(this.take(b, a.handle, a.attrs));
    }
    if (out.length < num && !this.strictAffinity) {
      for (const pool of pools) {
        const size = 2 ** (32 - pool.blockSize);
        for (const i of this.walk(pool, a.host)) {
          const b = this.blockMap.get((pool.network + i * size) >>> 0);
          while (b && out.length < num && b.unallocated.length > 0) out.push(this.take(b, a.handle, a.attrs));
        }
      }
    }
    if (out.length < num) {
      this.releaseIps(out);
      throw new IpamError(`failed to assign ${num} IPv4 address(es) for ${a.host}: no more free affine blocks and no free addresses${this.strictAffinity ? ' (strictAffinity)' : ''} in ${pools.map((p) => p.cidr).join(', ')}`);
    }
    return out;
  }

  /**
   * AssignIP: a given address (a pod's requested IP). Its block is claimed for `host` if it
   * does not exist yet. Throws when the address is outside every pool or already taken.
   */
  assignIp(ip: string, handle: string, host: string, attrs?: Record<string, string>): void {
    const a = parseIPv4(ip);
    const pool = this.poolFor(ip);
    if (a === null || !pool) throw new IpamError(`the provided IP address ${ip} is not in a configured pool`);
    if (pool.disabled) throw new IpamError(`the provided IP address ${ip} is in a disabled pool (${pool.cidr})`);
    const net = networkOf(a, pool.blockSize);
    const b = this.blockMap.get(net) ?? this.newBlock(pool, net, host);
    const ord = a - b.network;
    const i = b.unallocated.indexOf(ord);
    if (i < 0) throw new IpamError(`Address already assigned in block: ${ip}`);
    b.unallocated.splice(i, 1);
    b.allocations[ord] = handle;
    this.noteHandle(handle, b, 1);
    b.attrs[ord] = attrs ? Object.freeze({ ...attrs }) : null;
  }

  /**
   * The tunl0 address of `node` (calico-node's allocateip): assigned once from the node's
   * pools with IPIP enabled, under `ipip-tunnel-addr-<node>`; null when no pool uses IPIP.
   */
  tunnelAddress(node: string): string | null {
    const handle = ipipTunnelHandle(node);
    const have = this.ipsByHandle(handle);
    if (have.length > 0) return have[0]!;
    const pools = this.hostPools().filter((p) => p.ipipMode !== 'Never');
    if (pools.length === 0) return null;
    return this.autoAssign({ handle, host: node, pools: pools.map((p) => p.name), attrs: { node, type: 'ipipTunnelAddress' } })[0]!;
  }

  /** Addresses held by `handle`, in block then ordinal order. */
  ipsByHandle(handle: string): string[] {
    const out: string[] = [];
    const held = this.handleBlocks.get(handle);
    if (held === undefined) return out;
    const scan = (b: IpamBlock) => b.allocations.forEach((h, o) => { if (h === handle) out.push(formatIPv4((b.network + o) >>> 0)); });
    // The blocks holding it (the index): one, or several walked in block order.
    if (held.size === 1) for (const b of held.keys()) scan(b);
    else for (const b of this.blockMap.values()) if (held.has(b)) scan(b);
    return out;
  }

  /** The handle holding `ip`, or null. */
  handleOf(ip: string): string | null {
    const b = this.blockFor(ip);
    if (!b) return null;
    return b.allocations[parseIPv4(ip)! - b.network] ?? null;
  }

  // ── release ──

  /** ReleaseIPs: frees each address; returns those that were not allocated. */
  releaseIps(ips: readonly string[]): string[] {
    const unallocated: string[] = [];
    for (const ip of ips) {
      const b = this.blockFor(ip);
      const ord = b ? parseIPv4(ip)! - b.network : -1;
      if (!b || b.allocations[ord] === null) { unallocated.push(ip); continue; }
      this.noteHandle(b.allocations[ord]!, b, -1);
      b.allocations[ord] = null;
      b.attrs[ord] = null;
      b.unallocated.push(ord);
      if (b.affinity === null && b.unallocated.length === b.allocations.length) this.blockMap.delete(b.network);
    }
    return unallocated;
  }

  /** ReleaseByHandle: frees every address of `handle`; returns them. */
  releaseByHandle(handle: string): string[] {
    const ips = this.ipsByHandle(handle);
    this.releaseIps(ips);
    return ips;
  }

  /**
   * ReleaseHostAffinities: every block affine to `host` loses the affinity — an empty block
   * is deleted; a non-empty one is kept (mustBeEmpty) or kept without affinity.
   * Observers hear a `release` per block whose affinity went. Returns those blocks.
   */
  releaseHostAffinities(host: string, mustBeEmpty: boolean): string[] {
    const list = this.affine.get(host) ?? [];
    const kept: IpamBlock[] = [];
    const released: string[] = [];
    for (const b of list) {
      const empty = b.unallocated.length === b.allocations.length;
      if (mustBeEmpty && !empty) { kept.push(b); continue; }
      if (empty) this.blockMap.delete(b.network);
      b.affinity = null;
      released.push(b.cidr);
      this.emit({ kind: 'release', host, cidr: b.cidr, pool: b.pool.name });
    }
    if (kept.length) this.affine.set(host, kept);
    else this.affine.delete(host);
    return released;
  }

  /**
   * What the node controller does when the Node `host` is deleted: its tunnel address is
   * released, then its empty blocks' affinities (blocks still holding pod addresses stay).
   */
  deleteNode(host: string): string[] {
    this.releaseByHandle(ipipTunnelHandle(host));
    return this.releaseHostAffinities(host, true);
  }
}
