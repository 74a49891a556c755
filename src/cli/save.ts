/**
 * `podwire save iptables|conntrack|ipset|ipvs|routes|bird FILE --node N [--netns NS]`:
 * runs the scenario (build, traffic) and prints one namespace's state as the
 * real tool would print it on that machine at the end of the run: iptables-save,
 * conntrack -L, ipset save, `ipvsadm -Ln` (`--stats`, `--rate`; `-c`/`--connections`:
 * `ipvsadm -Lnc`), `ip route` (main table), or — Calico — what
 * `birdc show protocols` and `birdc show route` print on that node (or the
 * underlay router when it peers by BGP).
 */
import { runScenarioFile } from '../scenario/run.js';
import { isInputError } from '../scenario/errors.js';
import { conntrackList, iptablesSaveText, netfilterIfAny } from '../netfilter/index.js';
import { ipsetSave } from '../netfilter/ipset-text.js';
import { NetlinkError } from '../kernel/netlink.js';
import { formatRoute, RT_TABLE_MAIN } from '../kernel/fib.js';
import { ipvsOf } from '../ipvs/index.js';

export interface SaveArgs {
  what: 'iptables' | 'conntrack' | 'ipset' | 'ipvs' | 'routes' | 'bird';
  file: string;
  node: string;
  netns: string;
  counters: boolean;
  /** ipvs: ipvsadm -Ln --stats / --rate / -c. */
  stats?: boolean;
  rate?: boolean;
  connections?: boolean;
  seed?: number;
  /** --allow-outside-files: `{file: …}` includes may leave the scenario's folder. */
  allowOutsideFiles?: boolean;
}

export function saveCommand(a: SaveArgs): number {
  try {
    const res = runScenarioFile(a.file, { seed: a.seed, allowOutsideFiles: a.allowOutsideFiles });
    const node = res.cluster.world.nodes.get(a.node);
    if (!node) {
      process.stderr.write(`podwire: ${a.file}: no machine named "${a.node}" (machines: ${[...res.cluster.world.nodes.keys()].join(', ')})\n`);
      return 2;
    }
    if (!node.netnsExists(a.netns)) {
      process.stderr.write(`podwire: ${a.file}: ${a.node} has no network namespace "${a.netns}" (namespaces: ${[...node.netns.keys()].join(', ')})\n`);
      return 2;
    }
    let out = '';
    if (a.what === 'iptables') out = iptablesSaveText(node, a.netns, { counters: a.counters });
    else if (a.what === 'conntrack') out = conntrackList(node, a.netns);
    else if (a.what === 'ipvs') {
      // ipvsadm on a machine without ip_vs loaded would load it and print an empty table; the
      // model loads it here too (nothing else changes).
      const ipvs = ipvsOf(node, a.netns);
      out = a.connections || a.counters ? ipvs.listConns() : ipvs.list({ stats: a.stats, rate: a.rate });
    }
    else if (a.what === 'routes') {
      // The kernel dumps its FIB trie in key order: ascending destination, longer prefix first, lower metric first.
      const rs = [...node.ns(a.netns).fib.routes(RT_TABLE_MAIN)].sort((x, y) => (x.dst >>> 0) - (y.dst >>> 0) || y.prefix - x.prefix || x.metric - y.metric);
      out = rs.map((r) => formatRoute(r) + '\n').join('');
    }
    else if (a.what === 'bird') {
      const cal = res.cluster.calico;
      const sp = cal ? (cal.tor?.node === node ? cal.tor : cal.bgp.speaker(a.node)) : undefined;
      if (!sp) {
        process.stderr.write(`podwire: ${a.file}: ${a.node} runs no BGP speaker (${cal ? 'BIRD runs on the Calico nodes and on a router named in network.bgp.peers' : 'the scenario\'s network plugin is not calico'})\n`);
        return 2;
      }
      out = `$ birdc show protocols\n${sp.showProtocols()}\n$ birdc show route\n${sp.showRoute()}`;
    } else {
      const st = netfilterIfAny(node.ns(a.netns));
      out = st ? ipsetSave(st.nf.ipsets) : '';
    }
    process.stdout.write(out);
    return 0;
  } catch (e) {
    if (isInputError(e)) { process.stderr.write(e.format() + '\n'); return 2; }
    if (e instanceof NetlinkError) { process.stderr.write(`podwire: ${a.file}: ${e.message}\n`); return 2; }
    process.stderr.write(`podwire: save failed: ${(e as Error).message}\n`);
    return 1;
  }
}
