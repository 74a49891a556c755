/**
 * `-j LOG [--log-prefix P] [--log-level L] [--log-tcp-sequence]
 * [--log-tcp-options] [--log-ip-options] [--log-uid] [--log-macdecode]`.
 * Calls p.ops.log(p, line) with the kernel's nf_log_ip_packet text:
 * `PREFIX IN=in OUT=out [PHYSIN=.. PHYSOUT=..] SRC=a DST=b LEN=n TOS=0xNN
 * PREC=0xNN TTL=n ID=n [CE] [DF] [MF] [FRAG:n] PROTO=…` then per protocol
 * `SPT= DPT= [SEQ= ACK=] WINDOW= RES=0xNN FLAGS URGP=` (TCP), `SPT= DPT= LEN=`
 * (UDP), `TYPE= CODE= [ID= SEQ=]` (ICMP), and `MARK=0x…` when marked.
 * (MAC= is left out: the data path owns the link-layer header.)
 * Saved with the prefix quoted as xtables_save_string, the level as a number
 * only when not 4 (verified: `info` → `--log-level 6`).
 */
import type { PacketCtx, Target, TargetVerdict } from '../types.js';
import type { TargetModule } from '../registry.js';
import { ModuleError, onlyOnce, saveString, vtok } from '../tokens.js';
import { ipToString, u16, u32 } from '../../wire/bytes.js';

const CONTINUE: TargetVerdict = { kind: 'continue' };
const LEVELS: Record<string, number> = { emerg: 0, alert: 1, crit: 2, error: 3, err: 3, warning: 4, warn: 4, notice: 5, info: 6, debug: 7 };
const FLAGS = ['log-tcp-sequence', 'log-tcp-options', 'log-ip-options', 'log-uid', 'log-macdecode'];

export class LogTarget implements Target {
  readonly name = 'LOG';
  constructor(readonly prefix: string, readonly level: number, readonly flags: readonly string[]) {}
  run(p: PacketCtx): TargetVerdict {
    p.ops.log(p, formatLogLine(p, this.prefix, this.flags.includes('log-tcp-sequence')));
    return CONTINUE;
  }
  save(): string {
    let s = '-j LOG';
    if (this.prefix) s += ` --log-prefix ${saveString(this.prefix)}`;
    if (this.level !== 4) s += ` --log-level ${this.level}`;
    for (const f of FLAGS) if (this.flags.includes(f)) s += ` --${f}`;
    return s;
  }
}

/** nf_log_ip_packet's text for the packet (after the prefix). */
export function formatLogLine(p: PacketCtx, prefix: string, tcpSeq = false): string {
  const b = p.skb.buf, nh = p.skb.nh;
  let s = `${prefix}IN=${p.inDev ? p.inDev.name : ''} OUT=${p.outDev ? p.outDev.name : ''} `;
  if (p.physIn) s += `PHYSIN=${p.physIn.name} `;
  if (p.physOut) s += `PHYSOUT=${p.physOut.name} `;
  const tos = b[nh + 1];
  const hex2 = (n: number) => n.toString(16).toUpperCase().padStart(2, '0');
  s += `SRC=${ipToString(p.saddr)} DST=${ipToString(p.daddr)} LEN=${u16(b, nh + 2)} TOS=0x${hex2(tos & 0x1e)} PREC=0x${hex2(tos & 0xe0)} TTL=${b[nh + 8]} ID=${u16(b, nh + 4)} `;
  const frag = u16(b, nh + 6);
  if (frag & 0x8000) s += 'CE ';
  if (frag & 0x4000) s += 'DF ';
  if (frag & 0x2000) s += 'MF ';
  if (frag & 0x1fff) s += `FRAG:${frag & 0x1fff} `;
  const l4 = p.l4;
  switch (p.proto) {
    case 6: {
      s += 'PROTO=TCP ';
      if (p.fragOff || l4 < 0) break;
      s += `SPT=${u16(b, l4)} DPT=${u16(b, l4 + 2)} `;
      if (tcpSeq) s += `SEQ=${u32(b, l4 + 4)} ACK=${u32(b, l4 + 8)} `;
      s += `WINDOW=${u16(b, l4 + 14)} RES=0x${((b[l4 + 12] & 0x0f) << 2 | (b[l4 + 13] >>> 6)).toString(16).padStart(2, '0')} `;
      const f = b[l4 + 13];
      for (const [bit, n] of [[0x80, 'CWR'], [0x40, 'ECE'], [0x20, 'URG'], [0x10, 'ACK'], [0x08, 'PSH'], [0x04, 'RST'], [0x02, 'SYN'], [0x01, 'FIN']] as const) if (f & bit) s += n + ' ';
      s += `URGP=${u16(b, l4 + 18)} `;
      break;
    }
    case 17:
      s += 'PROTO=UDP ';
      if (p.fragOff || l4 < 0) break;
      s += `SPT=${u16(b, l4)} DPT=${u16(b, l4 + 2)} LEN=${u16(b, l4 + 4)} `;
      break;
    case 1: {
      s += 'PROTO=ICMP ';
      if (p.fragOff || l4 < 0) break;
      const t = b[l4];
      s += `TYPE=${t} CODE=${b[l4 + 1]} `;
      if (t === 0 || t === 8) s += `ID=${u16(b, l4 + 4)} SEQ=${u16(b, l4 + 6)} `;
      break;
    }
    default:
      s += `PROTO=${p.proto} `;
  }
  if (p.skb.mark) s += `MARK=0x${p.skb.mark.toString(16)} `;
  return s.trimEnd();
}

export const logModule: TargetModule = {
  name: 'LOG',
  options: [{ name: 'log-prefix', args: 1 }, { name: 'log-level', args: 1 }, ...FLAGS.map((name) => ({ name, args: 0 as const }))],
  parse(args) {
    onlyOnce('LOG', args);
    let prefix = '', level = 4;
    const flags: string[] = [];
    for (const a of args) {
      if (a.name === 'log-prefix') {
        prefix = a.values[0];
        if (prefix.length > 29) throw new ModuleError('Maximum prefix length 29 for --log-prefix', vtok(a));
        if (prefix.length === 0) throw new ModuleError('No prefix specified for --log-prefix', vtok(a));
      } else if (a.name === 'log-level') {
        const v = a.values[0];
        if (/^[0-7]$/.test(v)) level = Number(v);
        else if (LEVELS[v] !== undefined) level = LEVELS[v];
        else throw new ModuleError(`log-level \`${v}' unknown`, vtok(a), 'a number 0-7 or emerg, alert, crit, error, warning, notice, info, debug');
      } else flags.push(a.name);
    }
    return new LogTarget(prefix, level, flags);
  },
};
