/**
 * The BGP topology Calico's confd renders for a cluster: one speaker per node
 * (router id = node IP, AS 64512 unless set), then either
 *
 * - the **node-to-node full mesh** (default): one `Mesh_<peer IP>` neighbour
 *   per other node, N(N−1)/2 sessions; or
 * - **route reflectors** (mesh off; every node peers with the nodes that
 *   have a route reflector cluster id, as a BGPPeer with a peerSelector for
 *   them renders it): a reflector peers with every other node and treats each
 *   neighbour without its own cluster id as an `rr client`; R·(N−R) +
 *   R(R−1)/2 sessions.
 *
 * `passive on` follows Calico's mesh rule for every iBGP neighbour: the side
 * whose peer IP is greater (by string comparison, as the template compares)
 * is passive, so exactly one side connects. Names of reflector neighbours
 * (`Node_<peer IP>`) are podwire's choice (Calico's names for BGPPeer-derived
 * protocols were not confirmed, REFERENCE §11).
 *
 * The cluster owns one {@link BgpConvergence}: `mark()` a change, run the
 * clock, read `convergence.time`.
 */
import type { Node } from '../../kernel/node.js';
import type { World } from '../../kernel/world.js';
import { BgpConvergence, BgpSpeaker, type BgpCounts, type BgpSpeakerConfig, type KrtTunnel } from './speaker.js';
import type { BgpPeerConfig } from './session.js';

export interface BgpClusterConfig {
  /** 'mesh' (Calico's default node-to-node mesh) or 'reflectors'. */
  mode: 'mesh' | 'reflectors';
  /** AS of every node (64512). */
  localAs?: number;
  /** The kernel route shape per node (Calico passes the IPIP/CrossSubnet rule). */
  krtTunnel?: (node: Node) => KrtTunnel | undefined;
  /** Other speaker settings applied to every node. */
  speaker?: Omit<BgpSpeakerConfig, 'routerId' | 'localAs' | 'clusterId' | 'krtTunnel' | 'convergence'>;
}

export interface BgpClusterNode {
  node: Node;
  /** The node IP (router id, source address). */
  ip: string;
  /** `rr_cluster_id`: makes the node a route reflector. */
  clusterId?: string;
}

export class BgpCluster {
  readonly convergence = new BgpConvergence();
  readonly speakers: BgpSpeaker[] = [];
  private readonly members: BgpClusterNode[] = [];
  private configured = false;

  constructor(readonly world: World, readonly cfg: BgpClusterConfig) {
    if (cfg.mode !== 'mesh' && cfg.mode !== 'reflectors') throw new Error(`BGP cluster mode "${String(cfg.mode)}" is not one of mesh, reflectors`);
  }

  /** Adds a node's speaker (before `configure`). */
  add(m: BgpClusterNode): BgpSpeaker {
    if (this.configured) throw new Error('BGP cluster: nodes must be added before configure()');
    if (this.members.some((x) => x.ip === m.ip)) throw new Error(`BGP cluster: node IP ${m.ip} is used twice`);
    const krt = this.cfg.krtTunnel?.(m.node);
    const s = new BgpSpeaker(m.node, {
      ...this.cfg.speaker,
      routerId: m.ip,
      localAs: this.cfg.localAs ?? 64512,
      ...(m.clusterId !== undefined ? { clusterId: m.clusterId } : {}),
      ...(krt ? { krtTunnel: krt } : {}),
      convergence: this.convergence,
    });
    this.members.push(m);
    this.speakers.push(s);
    return s;
  }

  /** The speaker of the node with this IP or name. */
  speaker(ipOrName: string): BgpSpeaker | undefined {
    const i = this.members.findIndex((m) => m.ip === ipOrName || m.node.name === ipOrName);
    return i >= 0 ? this.speakers[i] : undefined;
  }

  /** Adds the neighbours the mode calls for. */
  configure(): void {
    if (this.configured) return;
    this.configured = true;
    const rrs = this.members.map((m, i) => i).filter((i) => this.members[i].clusterId !== undefined);
    if (this.cfg.mode === 'reflectors' && rrs.length === 0) throw new Error('BGP cluster: mode reflectors needs at least one node with a clusterId');
    for (let i = 0; i < this.members.length; i++) {
      for (const j of this.peerIndexes(i)) this.speakers[i].addPeer(this.peerConfig(i, j));
    }
  }

  /** The neighbours member `i` should have under the mode. */
  private peerIndexes(i: number): number[] {
    const all = this.members.map((_, j) => j).filter((j) => j !== i);
    if (this.cfg.mode === 'mesh' || this.members[i].clusterId !== undefined) return all;
    return all.filter((j) => this.members[j].clusterId !== undefined);
  }

  private peerConfig(i: number, j: number): BgpPeerConfig {
    const me = this.members[i], them = this.members[j];
    return {
      address: them.ip, as: this.cfg.localAs ?? 64512,
      name: `${this.cfg.mode === 'mesh' ? 'Mesh' : 'Node'}_${them.ip.replace(/\./g, '_')}`,
      passive: them.ip > me.ip,
      rrClient: me.clusterId !== undefined && them.clusterId !== me.clusterId,
    };
  }

  /**
   * A node joins a configured cluster (confd re-renders every node's config): its
   * speaker is created with its neighbours and started, and the others add it.
   * Marks the convergence start.
   */
  join(m: BgpClusterNode): BgpSpeaker {
    if (!this.configured) return this.add(m);
    this.configured = false;
    const s = this.add(m);
    this.configured = true;
    const i = this.members.length - 1;
    for (const j of this.peerIndexes(i)) s.addPeer(this.peerConfig(i, j));
    for (let j = 0; j < i; j++) if (this.peerIndexes(j).includes(i)) this.speakers[j].addPeer(this.peerConfig(j, i));
    this.convergence.mark(this.world.now);
    s.start();
    return s;
  }

  /** A node leaves: its speaker stops (Cease 6/2), the others remove it (Cease 6/3). Marks the convergence start. */
  leave(ipOrName: string): void {
    const i = this.members.findIndex((m) => m.ip === ipOrName || m.node.name === ipOrName);
    if (i < 0) throw new Error(`BGP cluster: no node ${ipOrName}`);
    const m = this.members[i];
    this.convergence.mark(this.world.now);
    this.speakers[i].stop();
    for (const s of this.speakers) if (s !== this.speakers[i] && s.peer(m.ip)) s.removePeer(m.ip);
    this.members.splice(i, 1);
    this.speakers.splice(i, 1);
  }

  /** Configures (if not yet) and starts every speaker; marks the convergence start. */
  start(): void {
    this.configure();
    this.convergence.mark(this.world.now);
    for (const s of this.speakers) s.start();
  }

  /** Sessions Established (each counted once). */
  sessions(): number {
    let n = 0;
    for (const s of this.speakers) for (const p of s.peers) if (p.est) n++;
    return n / 2;
  }

  /** Sessions configured (each counted once). */
  configuredSessions(): number {
    return this.speakers.reduce((n, s) => n + s.peers.length, 0) / 2;
  }

  /** Messages sent by all speakers, by type, and in total. */
  messages(): BgpCounts & { total: number } {
    const t = { open: 0, update: 0, notification: 0, keepalive: 0, 'route-refresh': 0, total: 0 };
    for (const s of this.speakers) {
      for (const k of ['open', 'update', 'notification', 'keepalive', 'route-refresh'] as const) { t[k] += s.sent[k]; t.total += s.sent[k]; }
    }
    return t;
  }
}
