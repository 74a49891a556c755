/**
 * Direct routing and IPIP tunnelling, locally generated requests, connection reuse, and tshark's view
 * of the captured frames (this kernel has no ip_vs module: checked against ip_vs_xmit.c and by tshark).
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IpvsLab, RS1, SVC, VIP, ip } from './lab.js';
import { readIp, u16 } from '../../src/wire/bytes.js';
import { itTshark, runTshark, checkCapture } from '../helpers/tshark.js';

const S = 1e9;
const tcpFrames = (l: IpvsLab, dev: string, dir: 'in' | 'out') => l.on(dev, dir).filter((f) => u16(f.bytes, 12) === 0x0800);

function drLab(): IpvsLab {
  const l = new IpvsLab();
  // The real server owns the VIP (on lo, so it does not answer ARP for it on eth0) and answers on port 80.
  l.n.addrAdd('rs1', 'lo', '10.96.0.10/32');
  l.listen('rs1', 80);
  // Its replies (source VIP) come back through the director, which holds the VIP too.
  l.n.sysctlSet('node', 'net.ipv4.conf.s1.accept_local', '1');
  l.ipvs.addService(SVC, { scheduler: 'rr' });
  l.ipvs.addDest(SVC, { addr: RS1, port: 80, weight: 1, fwd: 'droute' });
  return l;
}

function tunLab(): IpvsLab {
  const l = new IpvsLab();
  l.n.ipipTunl0('rs1');
  l.n.linkSetUp('rs1', 'tunl0');
  l.n.addrAdd('rs1', 'lo', '10.96.0.10/32');
  l.listen('rs1', 80);
  l.n.sysctlSet('node', 'net.ipv4.conf.s1.accept_local', '1');
  l.ipvs.addService(SVC, { scheduler: 'rr' });
  l.ipvs.addDest(SVC, { addr: RS1, port: 80, weight: 1, fwd: 'tunnel' });
  return l;
}

describe('forwarding methods', () => {
  it('droute: the packet goes unchanged (dst VIP:80) to the real server\'s MAC', () => {
    const l = drLab();
    const c = l.connect();
    l.run(1 * S);
    expect(c.errors).toEqual([]);
    expect(l.served.get('rs1')).toBe(100);
    const syn = tcpFrames(l, 'rs1/eth0', 'in')[0].bytes;
    expect(Array.from(syn.subarray(0, 6))).toEqual([2, 0, 0, 0, 2, 2]); // rs1's eth0 MAC
    expect(readIp(syn, 14 + 16)).toBe(VIP);
    expect(u16(syn, 14 + 22)).toBe(80);
    expect(l.ipvs.list()).toContain('  -> 10.0.2.2:80                  Route   1      0          1         \n');
    expect(l.events('ipvs.xmit')[0].detail).toBe('droute to 10.0.2.2 (next hop 10.0.2.2 via s1), packet unchanged');
  });

  it('tunnel: IPIP from the director to the real server, inner packet unchanged', () => {
    const l = tunLab();
    const c = l.connect();
    l.run(1 * S);
    expect(c.errors).toEqual([]);
    expect(l.served.get('rs1')).toBe(100);
    const f = tcpFrames(l, 'rs1/eth0', 'in')[0].bytes;
    expect(f[14 + 9]).toBe(4); // IPIP
    expect(readIp(f, 14 + 12)).toBe(ip('10.0.2.1'));
    expect(readIp(f, 14 + 16)).toBe(RS1);
    expect(f[14 + 8]).toBe(64); // TTL from the inner header
    expect(readIp(f, 34 + 16)).toBe(VIP);
    expect(u16(f, 34 + 22)).toBe(80);
    expect((u16(f, 14 + 6) & 0x4000) !== 0).toBe(true); // DF copied from the inner (pmtu_disc)
    expect(l.ipvs.list()).toContain('Tunnel  1');
  });
});

describe('requests from the director itself, and reused ports', () => {
  it('LOCAL_OUT: a process on the node connecting to the VIP is scheduled at LOCAL_OUT and answered from the VIP', () => {
    const l = new IpvsLab();
    l.ipvs.addService(SVC, { scheduler: 'rr' });
    l.ipvs.addDest(SVC, { addr: RS1, port: 8080, weight: 1 });
    const c = l.connect({ from: 'node' });
    l.run(1 * S);
    expect(c.errors).toEqual([]);
    expect(c.got.reduce((a, b) => a + b, 0)).toBe(100);
    const syn = tcpFrames(l, 'rs1/eth0', 'in')[0].bytes;
    expect(readIp(syn, 14 + 12)).toBe(VIP); // the socket's source was the VIP (a local destination)
    expect(readIp(syn, 14 + 16)).toBe(RS1);
    expect(l.ipvs.listConns()).toMatch(/TCP \d\d:\d\d  TIME_WAIT   10\.96\.0\.10:\d+\s+10\.96\.0\.10:80\s+10\.0\.2\.2:8080/);
  });

  it('conn_reuse_mode: a new SYN on a TIME_WAIT entry is scheduled anew (rr moves on)', () => {
    const l = new IpvsLab();
    l.ipvs.addService(SVC, { scheduler: 'rr' });
    l.ipvs.addDest(SVC, { addr: RS1, port: 8080, weight: 1 });
    l.ipvs.addDest(SVC, { addr: ip('10.0.3.2'), port: 8080, weight: 1 });
    l.connect({ sport: 45000 });
    l.run(1 * S);
    expect(l.ipvs.listConns()).toMatch(/TIME_WAIT   10\.0\.1\.2:45000\s+10\.96\.0\.10:80\s+10\.0\.3\.2:8080/);
    l.connect({ sport: 45000 }); // same 4-tuple while the IPVS entry is in TIME_WAIT
    l.run(1 * S);
    expect(l.served.get('rs1')).toBe(100);
    expect(l.events('ipvs.conn').some((e) => e.detail.includes('new SYN on the entry, rescheduling'))).toBe(true);
    l.n.sysctlSet('node', 'net.ipv4.vs.conn_reuse_mode', '0');
    l.connect({ sport: 45000 }); // reuse off: the old entry (now rs1's TIME_WAIT) carries the new SYN
    l.run(1 * S);
    expect(l.served.get('rs1')).toBe(200);
  });
});

describe('captures', () => {
  itTshark('tshark decodes the NAT, DR and IPIP frames without complaint', async () => {
    for (const [name, mk] of [['masq', () => { const l = new IpvsLab(); l.ipvs.addService(SVC, { scheduler: 'rr' }); l.ipvs.addDest(SVC, { addr: RS1, port: 8080, weight: 1 }); return l; }], ['droute', drLab], ['tunnel', tunLab]] as const) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `podwire-ipvs-${name}-`));
      const l = mk();
      l.capture(dir);
      l.connect();
      l.run(1 * S);
      l.closeCaptures();
      for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.pcap'))) {
        const r = await checkCapture(path.join(dir, f));
        expect(r.problems, `${name} ${f}`).toEqual([]);
      }
      const fields = ['-T', 'fields', '-e', 'frame.protocols', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'tcp.srcport', '-e', 'tcp.dstport'];
      const rs = (await runTshark(['-r', path.join(dir, 'n1__rs1__eth0.pcap'), '-n', '-Y', 'tcp', ...fields])).trim().split('\n').map((x) => x.split('\t'));
      const cl = (await runTshark(['-r', path.join(dir, 'n1__client__eth0.pcap'), '-n', '-Y', 'tcp', ...fields])).trim().split('\n').map((x) => x.split('\t'));
      if (name === 'masq') {
        expect(rs[0].slice(0, 2)).toEqual(['eth:ethertype:ip:tcp', '10.0.1.2']);
        expect(rs[0][2]).toBe('10.0.2.2');
        expect(rs[0][4]).toBe('8080');
      } else if (name === 'droute') {
        expect(rs[0].slice(0, 3)).toEqual(['eth:ethertype:ip:tcp', '10.0.1.2', '10.96.0.10']);
      } else {
        expect(rs[0].slice(0, 3)).toEqual(['eth:ethertype:ip:ip:tcp', '10.0.2.1,10.0.1.2', '10.0.2.2,10.96.0.10']);
      }
      // Whatever the method, the client talks to and hears from VIP:80 only.
      expect(new Set(cl.map((x) => `${x[1]}>${x[2]}`))).toEqual(new Set(['10.0.1.2>10.96.0.10', '10.96.0.10>10.0.1.2']));
    }
  });
});
