/**
 * `podwire save iptables|conntrack|ipset FILE --node N [--netns NS]`: runs the
 * scenario (build, traffic) and prints one namespace's state as the real tool
 * would print it on that machine at the end of the run.
 */
import { runScenarioFile } from '../scenario/run.js';
import { isInputError } from '../scenario/errors.js';
import { conntrackList, iptablesSaveText, netfilterIfAny } from '../netfilter/index.js';
import { ipsetSave } from '../netfilter/ipset-text.js';
import { NetlinkError } from '../kernel/netlink.js';

export interface SaveArgs {
  what: 'iptables' | 'conntrack' | 'ipset';
  file: string;
  node: string;
  netns: string;
  counters: boolean;
  seed?: number;
}

export function saveCommand(a: SaveArgs): number {
  try {
    const res = runScenarioFile(a.file, { seed: a.seed });
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
    else {
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
