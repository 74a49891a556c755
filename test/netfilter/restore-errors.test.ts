/** iptables-restore errors: file, line, column of the offending token and iptables' wording; nothing changes on error. */
import { describe, expect, it } from 'vitest';
import { Ruleset } from '../../src/netfilter/ruleset.js';
import { iptablesRestore } from '../../src/netfilter/restore.js';
import { iptablesSave } from '../../src/netfilter/save.js';
import { RuleError } from '../../src/netfilter/types.js';

function err(text: string, table = 'filter'): string {
  const rs = new Ruleset();
  const before = iptablesSave(rs);
  const body = `*${table}\n:X - [0:0]\n${text}\nCOMMIT\n`;
  try {
    iptablesRestore(rs, body, { file: 'rules.v4' });
  } catch (e) {
    expect(e).toBeInstanceOf(RuleError);
    expect(iptablesSave(rs)).toBe(before);
    return (e as RuleError).format();
  }
  throw new Error('no error');
}

describe('iptables-restore errors', () => {
  it.each([
    ['-A INPUT -j FOO', "rules.v4:3:13: error: Chain 'FOO' does not exist (expected a target or an existing chain)"],
    ['-A INPUT -m foo -j ACCEPT', "rules.v4:3:13: error: Couldn't load match `foo':No such file or directory (expected a supported match module)"],
    ['-A INPUT -p tcp --dportx 80 -j ACCEPT', 'rules.v4:3:17: error: unknown option "--dportx"'],
    ['-A INPUT --dport 80 -j ACCEPT', 'rules.v4:3:10: error: unknown option "--dport"'],
    ['-A NOPE -j ACCEPT', "rules.v4:3:4: error: Chain 'NOPE' does not exist (expected a chain declared with :CHAIN or -N)"],
    ['-A INPUT -p tcp --dport 99999 -j ACCEPT', "rules.v4:3:25: error: invalid port/service `99999' specified"],
    ['-A INPUT -p foo -j ACCEPT', 'rules.v4:3:13: error: unknown protocol "foo" specified (expected a protocol name or number)'],
    ['-A INPUT -m comment -j ACCEPT', 'rules.v4:3:13: error: comment: option "--comment" must be specified (expected --comment TEXT)'],
    ['-A INPUT -j ACCEPT extra', "rules.v4:3:20: error: Bad argument `extra'"],
    ['-A INPUT -m comment --comment \'a b\'', "rules.v4:3:34: error: Bad argument `b''"],
    ['-A INPUT -j ACCEPT -j DROP', 'rules.v4:3:20: error: multiple -j flags not allowed'],
    ['-A INPUT -m state --state FOO', 'rules.v4:3:27: error: Bad state "FOO"'],
    ['-A INPUT -m statistic ! --mode random', 'rules.v4:3:23: error: statistic: option "--mode" cannot be inverted.'],
    ['-A INPUT -m conntrack --ctstate NEW --ctstate NEW', 'rules.v4:3:37: error: conntrack: option "--ctstate" can only be used once.'],
    ['-A INPUT -m tcp --dport 80 -j ACCEPT', "rules.v4:3:17: error: TCP match requires '-p tcp' (expected -p tcp before the tcp options)"],
    ['-A INPUT -m multiport --dports 1 -j ACCEPT', "rules.v4:3:23: error: multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'"],
    ['-A OUTPUT -i eth0', "rules.v4:3:4: error: Can't use -i with OUTPUT"],
    ['-A INPUT -j DNAT --to-destination 1.1.1.1', 'rules.v4:3:4: error: DNAT target not valid in the filter table (only in nat)'],
    ['-A INPUT -j NOTRACK', 'rules.v4:3:4: error: NOTRACK target not valid in the filter table (only in raw)'],
    ['-A INPUT -j REJECT --reject-with tcp-reset', 'rules.v4:3:34: error: REJECT --reject-with tcp-reset is only valid with -p tcp (the kernel refuses the rule) (expected -p tcp)'],
    ['-A INPUT -j INPUT', 'rules.v4:3:4: error: -j INPUT: jumping to the built-in chain INPUT is not allowed (iptables: Operation not supported)'],
    ['-A INPUT -j X\n-A X -j X', 'rules.v4:4:1: error: Loop detected: chain X reaches itself (X -> X) (iptables: Too many links)'],
    ['-I INPUT 5 -j ACCEPT', 'rules.v4:3:4: error: Index of insertion too big.'],
    ['-D INPUT -j ACCEPT', 'rules.v4:3:4: error: Bad rule (does a matching rule exist in that chain?).'],
    ['-N X', 'rules.v4:3:4: error: Chain already exists.'],
    ['-P INPUT FOO', 'rules.v4:3:4: error: Bad policy name.'],
    ['-P X ACCEPT', 'rules.v4:3:4: error: Bad built-in chain name.'],
    ['-m tcp', 'rules.v4:3:1: error: unknown command "-m" (expected -A, -I, -D, -R, -N, -X, -F, -Z, -P or -E)'],
  ])('%s', (rule, msg) => {
    expect(err(rule)).toBe(msg);
  });

  it('table and hook limits checked in user chains at COMMIT (line of the offending rule)', () => {
    expect(err('-A PREROUTING -j X\n-A X -j SNAT --to-source 1.1.1.1', 'nat')).toBe(
      'rules.v4:4:1: error: SNAT target not valid in chain X (reached from PREROUTING; allowed only from INPUT, POSTROUTING)');
    expect(err('-A INPUT -m addrtype --dst-type LOCAL --limit-iface-out')).toBe(
      'rules.v4:3:1: error: addrtype match --dst-type LOCAL --limit-iface-out not valid in chain INPUT (reached from INPUT; allowed only from FORWARD, OUTPUT, POSTROUTING)');
    expect(err('-A POSTROUTING -j REJECT', 'mangle')).toBe(
      'rules.v4:3:1: error: REJECT target not valid in chain POSTROUTING (reached from POSTROUTING; allowed only from INPUT, FORWARD, OUTPUT)');
  });

  it('structure errors', () => {
    const rs = new Ruleset();
    expect(() => iptablesRestore(rs, '*filter\n-A INPUT -j ACCEPT\n', { file: 'f' })).toThrow('COMMIT expected at line 3');
    expect(() => iptablesRestore(rs, '-A INPUT -j ACCEPT\n', { file: 'f' })).toThrow('rule or chain line outside a table');
    expect(() => iptablesRestore(rs, '*bogus\nCOMMIT\n', { file: 'f' })).toThrow("Can't initialize iptables table `bogus'");
    expect(() => iptablesRestore(rs, '*filter\n:X ACCEPT [0:0]\nCOMMIT\n', { file: 'f' })).toThrow("Can't set policy `ACCEPT' on `X'");
    expect(() => iptablesRestore(rs, '*filter\n-A INPUT -m comment --comment "open\nCOMMIT\n', { file: 'f' })).toThrow('unterminated');
  });
});
