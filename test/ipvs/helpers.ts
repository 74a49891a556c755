/** Scheduler test rig: an IpvsCtl on a fake clock (no World), dests named by their last octet. */
import { IpvsCtl, type DestSpec } from '../../src/ipvs/ctl.js';
import { CONN_F, IPPROTO_TCP, type IpvsDest, type IpvsService, type SchedEnv, type SchedPkt } from '../../src/ipvs/types.js';

export class FakeEnv implements SchedEnv {
  t = 0;
  timers: { at: number; fn: () => void; live: boolean }[] = [];
  sysctls = new Map<string, number>([['lblc_expiration', 86400], ['lblcr_expiration', 86400]]);
  now(): number { return this.t; }
  timer(ns: number, fn: () => void): () => void {
    const e = { at: this.t + ns, fn, live: true };
    this.timers.push(e);
    return () => { e.live = false; };
  }
  sysctl(name: string): number { return this.sysctls.get(name) ?? 0; }
  /** Advances the clock to `t`, firing due timers in order. */
  advance(to: number): void {
    for (;;) {
      const due = this.timers.filter((e) => e.live && e.at <= to).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      this.t = due.at;
      due.fn();
    }
    this.t = to;
  }
}

export const VIP = 0x0a60000a; // 10.96.0.10

/** 10.244.0.N */
export function rs(n: number): number {
  return (0x0af40000 + n) >>> 0;
}

export function rig(sched: string, flags = 0) {
  const env = new FakeEnv();
  const ctl = new IpvsCtl(env);
  const svc = ctl.addService({ fwmark: 0, protocol: IPPROTO_TCP, addr: VIP, port: 80 }, { scheduler: sched, flags, timeout: 0, netmask: 0xffffffff });
  const add = (n: number, weight = 1, extra: Partial<DestSpec> = {}): IpvsDest =>
    ctl.addDest(svc, { addr: rs(n), port: 8080, weight, connFlags: CONN_F.MASQ, uThreshold: 0, lThreshold: 0, ...extra });
  const edit = (n: number, weight: number, extra: Partial<DestSpec> = {}): IpvsDest =>
    ctl.editDest(svc, { addr: rs(n), port: 8080, weight, connFlags: CONN_F.MASQ, uThreshold: 0, lThreshold: 0, ...extra });
  const del = (n: number) => ctl.delDest(svc, rs(n), 8080);
  const pick = (p: Partial<SchedPkt> = {}): number | null => {
    const d = svc.sched!.schedule(svc, { saddr: 0x0a000001, sport: 40000, daddr: VIP, dport: 80, protocol: IPPROTO_TCP, ...p });
    return d ? d.addr & 0xff : null;
  };
  const picks = (k: number, p: Partial<SchedPkt> = {}) => Array.from({ length: k }, () => pick(p));
  const dest = (n: number): IpvsDest => svc.dests.find((d) => d.addr === rs(n))!;
  const order = () => svc.dests.map((d) => d.addr & 0xff);
  return { env, ctl, svc: svc as IpvsService, add, edit, del, pick, picks, dest, order };
}
