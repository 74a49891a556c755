import { describe, expect, it } from 'vitest';
import { ConnTable } from '../../src/ipvs/conn.js';
import { rig, rs } from './helpers.js';

const S = 1e9;

// ip_vs_ctl.c: __ip_vs_del_dest → dest_trash; ip_vs_dest_trash_expire every 60 s (idle_start, then 120 s); ip_vs_trash_get_dest.
describe('destination trash', () => {
  function setup() {
    const r = rig('rr');
    const d = r.add(1);
    const conns = new ConnTable(r.env, { expired: () => {} });
    const cp = conns.newConn(6, 0x0a000102, 40000, r.svc.addr, 80, d.addr, 8080, 0, d, 0, false);
    d.stats.conns = 7;
    cp.timeout = 100 * S;
    conns.put(cp);
    r.del(1); // t = 0: trashed while referenced; the timer runs at 60, 120, 180, 240 …
    return { r, d };
  }

  it('a re-added dest comes back from the trash with its counters until it is freed', () => {
    const { r, d } = setup();
    expect(r.ctl.trash).toEqual([d]);
    r.env.advance(239 * S); // the connection went at 100 s; idle_start = 120 s; 180 s < 240 s
    const back = r.add(1);
    expect(back).toBe(d);
    expect(back.stats.conns).toBe(7);
    expect(r.ctl.trash).toEqual([]);
  });

  it('freed at the first run 120 s after idle_start: re-adding then makes a new dest', () => {
    const { r, d } = setup();
    r.env.advance(240 * S);
    const fresh = r.add(1);
    expect(fresh).not.toBe(d);
    expect(fresh.stats.conns).toBe(0);
  });
});
