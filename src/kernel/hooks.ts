/**
 * Netfilter hook points, as the kernel exposes them to modules
 * (nf_register_net_hook): a list of functions per hook, run in ascending
 * priority. The kernel model calls `run` at the same five IPv4 points and the
 * bridge points as Linux; nothing registered means ACCEPT. netfilter and IPVS
 * register here; the kernel never imports them.
 */
import type { NetDevice } from './device.js';
import type { Skb } from './skb.js';
import type { DropReason } from '../trace/events.js';

export const enum NfHook {
  PRE_ROUTING = 0,
  LOCAL_IN = 1,
  FORWARD = 2,
  LOCAL_OUT = 3,
  POST_ROUTING = 4,
}

export const enum NfBrHook {
  BR_PRE_ROUTING = 0,
  BR_LOCAL_IN = 1,
  BR_FORWARD = 2,
  BR_LOCAL_OUT = 3,
  BR_POST_ROUTING = 4,
}

export const HOOK_NAMES = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'] as const;
export const BR_HOOK_NAMES = ['BR_PREROUTING', 'BR_INPUT', 'BR_FORWARD', 'BR_OUTPUT', 'BR_POSTROUTING'] as const;

export const enum NfVerdict {
  DROP = 0,
  ACCEPT = 1,
  /** The hook took the packet (queued, re-injected later, or consumed). */
  STOLEN = 2,
}

export interface NfHookState {
  hook: number;
  /** 'ipv4' or 'bridge'. */
  pf: 'ipv4' | 'bridge';
  in: NetDevice | null;
  out: NetDevice | null;
  /** For IPv4 hooks run by br_netfilter on a bridged frame: the bridge ports (for -m physdev). */
  physIn?: NetDevice | null;
  physOut?: NetDevice | null;
  /** True when br_netfilter runs the IPv4 hooks for a frame the bridge is forwarding. */
  bridged?: boolean;
  /** Set by a hook that drops, to name the reason (default NETFILTER_DROP). */
  reason?: DropReason;
  /** Why, in words, for the trace. */
  detail?: string;
}

export type NfHookFn = (skb: Skb, state: NfHookState) => NfVerdict;

export interface NfHookOps {
  name: string;
  priority: number;
  fn: NfHookFn;
  /**
   * Set by its owner while calling `fn` could only return ACCEPT with no effect (an
   * iptables table whose base chain for the hook does not exist, conntrack not loaded):
   * the hook skips it. The owner clears it before anything that could change that (see
   * NetfilterNs.refresh), and calls HookTable.switched after changing it.
   */
  off?: boolean;
}

const NONE_ON: NfHookOps[] = [];

export class HookTable {
  readonly ipv4: NfHookOps[][] = [[], [], [], [], []];
  readonly bridge: NfHookOps[][] = [[], [], [], [], []];
  /**
   * Per IPv4 hook, the registered functions not switched off, in priority order: what the
   * packet path calls. A pod's namespace registers a dozen functions per hook that all have
   * nothing to do; looping over them cost about 20 calls per datagram on a pod-to-pod path.
   */
  readonly ipv4On: NfHookOps[][] = [NONE_ON, NONE_ON, NONE_ON, NONE_ON, NONE_ON];
  /** Bumped whenever ipv4On is rebuilt: a hook loop that sees it change goes on in the full list. */
  gen = 0;

  /**
   * Lists are replaced, never changed in place: a hook running while a function registers
   * or unregisters goes on with the list it began with, as the kernel's nf_hook_slow walks
   * the entries it fetched.
   */
  register(pf: 'ipv4' | 'bridge', hook: number, ops: NfHookOps): void {
    this.registerMany(pf, [[hook, ops]]);
  }

  /** register() for several functions at once (a module loading into a namespace): each list is made once. */
  registerMany(pf: 'ipv4' | 'bridge', entries: readonly (readonly [hook: number, ops: NfHookOps])[]): void {
    const lists = pf === 'ipv4' ? this.ipv4 : this.bridge;
    for (let h = 0; h < 5; h++) {
      const add = entries.filter((e) => e[0] === h).map((e) => e[1]);
      if (add.length === 0) continue;
      // Stable sort: equal priorities keep registration order, as the kernel's insertion does.
      lists[h] = [...lists[h], ...add].sort((a, b) => a.priority - b.priority);
      if (pf === 'ipv4') this.rebuild(h);
    }
    this.gen++;
  }

  unregister(pf: 'ipv4' | 'bridge', hook: number, name: string): void {
    const lists = pf === 'ipv4' ? this.ipv4 : this.bridge;
    lists[hook] = lists[hook].filter((o) => o.name !== name);
    if (pf === 'ipv4') this.rebuild(hook);
    this.gen++;
  }

  /** Rebuilds ipv4On: call after changing any registered function's `off`. */
  switched(): void {
    for (let h = 0; h < 5; h++) this.rebuild(h);
    this.gen++;
  }

  private rebuild(hook: number): void {
    const on = this.ipv4[hook].filter((o) => o.off !== true);
    // A namespace without rules (every pod's) has nothing on: one shared empty list for all.
    this.ipv4On[hook] = on.length === 0 ? NONE_ON : on;
  }
}
