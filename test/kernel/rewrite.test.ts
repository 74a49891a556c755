import { describe, expect, it } from 'vitest';
import { assertConfined, machineNamer, pinCommands, rewriteCommand, rewriteCommands, tokenize } from './rewrite.js';

const P = 'pw-k-99-0-';
const ctx = machineNamer(P, 'node-1');
const N = 'pw-k-99-0-node-1';
const W = 'pw-k-99-0-node-1_default.web';

describe('tokenize', () => {
  it('splits on whitespace with quotes', () => {
    expect(tokenize(`iptables -A X -m comment --comment "a b" -j 'C D'`)).toEqual(['iptables', '-A', 'X', '-m', 'comment', '--comment', 'a b', '-j', 'C D']);
    expect(tokenize('  ip  link   ')).toEqual(['ip', 'link']);
    expect(tokenize(`x ""`)).toEqual(['x', '']);
    expect(() => tokenize(`x "open`)).toThrow(/unterminated/);
  });
});

describe('rewriteCommand', () => {
  it('maps ip netns add to the pw namespace and pins it', () => {
    expect(rewriteCommand('ip netns add default.web', ctx)).toEqual([['ip', 'netns', 'add', W], ...pinCommands(W)]);
    expect(pinCommands(W)[0]).toContain('net.ipv6.conf.all.disable_ipv6=1');
    expect(pinCommands(W)[0]).toContain('net.ipv4.conf.default.arp_ignore=0');
  });
  it('gives bare ip commands the machine namespace', () => {
    expect(rewriteCommand('ip link add cni0 type bridge', ctx)).toEqual([['ip', '-n', N, 'link', 'add', 'cni0', 'type', 'bridge']]);
    expect(rewriteCommand('ip addr add 192.168.1.11/24 dev eth0', ctx)).toEqual([['ip', '-n', N, 'addr', 'add', '192.168.1.11/24', 'dev', 'eth0']]);
    expect(rewriteCommand('ip -4 -o addr show', ctx)).toEqual([['ip', '-n', N, '-4', '-o', 'addr', 'show']]);
  });
  it('maps ip -n X and netns X arguments', () => {
    expect(rewriteCommand('ip -n default.web addr add 10.244.0.2/24 dev eth0', ctx)).toEqual([['ip', '-n', W, 'addr', 'add', '10.244.0.2/24', 'dev', 'eth0']]);
    expect(rewriteCommand('ip link add veth1a2b3c4d address 02:00:00:00:00:01 type veth peer name eth0 address 02:00:00:00:00:02 netns default.web', ctx)).toEqual([
      ['ip', '-n', N, 'link', 'add', 'veth1a2b3c4d', 'address', '02:00:00:00:00:01', 'type', 'veth', 'peer', 'name', 'eth0', 'address', '02:00:00:00:00:02', 'netns', W],
    ]);
    expect(rewriteCommand('ip link set dev x netns default.web', ctx)).toEqual([['ip', '-n', N, 'link', 'set', 'dev', 'x', 'netns', W]]);
  });
  it('maps ip netns exec, bridge, sysctl and other tools', () => {
    expect(rewriteCommand('ip netns exec default.web sysctl -w net.ipv4.conf.eth0.arp_notify=1', ctx)).toEqual([['ip', 'netns', 'exec', W, 'sysctl', '-w', 'net.ipv4.conf.eth0.arp_notify=1']]);
    expect(rewriteCommand('ip netns exec default.web ip link set x netns default.client', ctx)).toEqual([
      ['ip', 'netns', 'exec', W, 'ip', 'link', 'set', 'x', 'netns', 'pw-k-99-0-node-1_default.client'],
    ]);
    expect(rewriteCommand('bridge link set dev veth1 hairpin on', ctx)).toEqual([['bridge', '-n', N, 'link', 'set', 'dev', 'veth1', 'hairpin', 'on']]);
    expect(rewriteCommand('sysctl -w net.ipv4.ip_forward=1', ctx)).toEqual([['ip', 'netns', 'exec', N, 'sysctl', '-w', 'net.ipv4.ip_forward=1']]);
    expect(rewriteCommand('iptables -t nat -A POSTROUTING -j MASQUERADE', ctx)).toEqual([['ip', 'netns', 'exec', N, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-j', 'MASQUERADE']]);
    expect(rewriteCommand('ip netns del default.web', ctx)).toEqual([['ip', 'netns', 'del', W]]);
  });
  it('refuses what it cannot confine', () => {
    expect(() => rewriteCommand('ip link set x netns 1', ctx)).toThrow(/pid/);
    expect(() => rewriteCommand('echo 1 > /proc/sys/net/ipv4/ip_forward', ctx)).toThrow(/shell/);
    expect(() => rewriteCommand('ip netns list', ctx)).toThrow(/unsupported/);
    expect(() => rewriteCommand('ip -b cmds.txt', ctx)).toThrow(/batch/);
    expect(() => rewriteCommand('nsenter -t 1 -n ip link', ctx)).toThrow(/not supported/);
    expect(() => rewriteCommand('ip netns add ../evil', ctx)).toThrow(/unsafe/);
    expect(() => rewriteCommand('bridge -n other fdb show', ctx)).toThrow(/bridge -n/);
  });
  it('rewrites every command of a list so that each one is confined', () => {
    const cmds = [
      'ip link set lo up', 'ip netns add default.web', 'ip link add cni0 type bridge',
      'ip link add veth1 type veth peer name eth0 netns default.web', 'ip -n default.web link set eth0 up',
      'bridge link set dev veth1 hairpin on', 'sysctl -w net.ipv4.ip_forward=1',
    ];
    for (const argv of rewriteCommands(cmds, ctx)) expect(() => assertConfined(argv, P)).not.toThrow();
  });
});

describe('assertConfined', () => {
  it('accepts only commands inside the prefix', () => {
    expect(() => assertConfined(['ip', 'link', 'add', 'x'], P)).toThrow();
    expect(() => assertConfined(['ip', '-n', 'pw-k-1-0-node', 'link'], P)).toThrow();
    expect(() => assertConfined(['ip', '-n', P, 'link'], P)).toThrow();
    expect(() => assertConfined(['ip', '-n', N, 'link', 'set', 'x', 'netns', 'other'], P)).toThrow();
    expect(() => assertConfined(['sysctl', '-w', 'a=b'], P)).toThrow();
    expect(() => assertConfined(['ip', 'netns', 'exec', N], P)).toThrow();
    expect(() => assertConfined(['ip', '-n', N, 'link'], 'x-')).toThrow(/pw-/);
    expect(() => assertConfined(['ip', 'netns', 'exec', N, 'tcpdump', '-i', 'eth0'], P)).not.toThrow();
    expect(() => assertConfined(['ip', 'netns', 'del', N], P)).not.toThrow();
  });
});

describe('here-documents for restore tools', () => {
  const body = '*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d 192.168.1.11/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.244.0.2:80\nCOMMIT';
  it("runs iptables-restore in the machine's namespace with the body on stdin", () => {
    const [argv, ...rest] = rewriteCommand(`iptables-restore --noflush <<'EOF'\n${body}\nEOF`, ctx);
    expect(rest).toEqual([]);
    expect(argv).toEqual(['ip', 'netns', 'exec', N, 'iptables-restore', '--noflush']);
    expect(argv!.stdin).toBe(`${body}\n`);
    assertConfined(argv!, P);
  });
  it('maps ip netns exec X iptables-restore, and keeps comment lines of the body', () => {
    const [argv] = rewriteCommands([`ip netns exec default.web iptables-restore --noflush <<'EOF'\n# pasted\n${body}\nEOF\n`], ctx);
    expect(argv).toEqual(['ip', 'netns', 'exec', W, 'iptables-restore', '--noflush']);
    expect(argv!.stdin).toBe(`# pasted\n${body}\n`);
  });
  it('refuses other programs, unquoted delimiters, trailing text and other shell syntax', () => {
    expect(() => rewriteCommand(`sh <<'EOF'\nrm -rf /\nEOF`, ctx)).toThrow(/not supported|may only feed/);
    expect(() => rewriteCommand(`cat <<'EOF'\nx\nEOF`, ctx)).toThrow(/here-document may only feed/);
    expect(() => rewriteCommand(`iptables-restore <<EOF\n$(reboot)\nEOF`, ctx)).toThrow(/must be quoted/);
    expect(() => rewriteCommand(`iptables-restore <<'EOF'\nCOMMIT\nEOF\nreboot`, ctx)).toThrow(/after the here-document/);
    expect(() => rewriteCommand(`iptables-restore <<'EOF'\nCOMMIT`, ctx)).toThrow(/not terminated/);
    expect(() => rewriteCommand(`iptables-restore < rules.v4`, ctx)).toThrow(/shell syntax/);
    expect(() => rewriteCommand(`ip link show\nreboot`, ctx)).toThrow(/multi-line/);
  });
});
