/**
 * Golden round trip: each fixtures/NAME.rules was loaded into a network
 * namespace with the REAL iptables-restore 1.8.9 (nf_tables) and saved with
 * the real iptables-save (fixtures/gen.sh); restoring the same text into our
 * model and saving must give the same bytes. The golden output itself, fed
 * back, must come out unchanged too.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Ruleset } from '../../src/netfilter/ruleset.js';
import { iptablesRestore } from '../../src/netfilter/restore.js';
import { iptablesSave } from '../../src/netfilter/save.js';

const dir = join(import.meta.dirname, 'fixtures');
const names = readdirSync(dir).filter((f) => f.endsWith('.rules')).map((f) => f.slice(0, -6));

function roundTrip(text: string, file: string, counters: boolean): string {
  const rs = new Ruleset();
  iptablesRestore(rs, text, { file, counters });
  return iptablesSave(rs, { counters });
}

describe('iptables-save golden files from the real iptables 1.8.9 (nf_tables)', () => {
  for (const name of names) {
    const input = readFileSync(join(dir, `${name}.rules`), 'utf8');
    const golden = readFileSync(join(dir, `${name}.golden`), 'utf8');
    const counters = input.startsWith('# counters');
    it(`${name}: restore(rules) then save == real iptables-save`, () => {
      expect(roundTrip(input, `${name}.rules`, counters)).toBe(golden);
    });
    it(`${name}: restore(golden) then save == golden`, () => {
      expect(roundTrip(golden, `${name}.golden`, counters)).toBe(golden);
    });
  }
});
