/** ipvsadm's names of the scheduler flags (ipvsadm 1.31 parse_sched_flags / print_sched_flags). */
import { SVC_F } from './types.js';

/**
 * The flag names for `sched` in ipvsadm's order: sh/mh name SCHED1 (fallback) and SCHED2 (port).
 * `display`: as print_sched_flags lists them (checked in Debian's ipvsadm 1.31 binary: for sh and
 * mh it stops after the port flag, so SCHED3 is not named); otherwise as `-b` accepts them.
 */
export function schedFlagNames(sched: string, flags: number, display = false): string[] {
  const out: string[] = [];
  const f1 = (flags & SVC_F.SCHED1) !== 0, f2 = (flags & SVC_F.SCHED2) !== 0, f3 = (flags & SVC_F.SCHED3) !== 0;
  if (sched === 'sh' || sched === 'mh') {
    if (f1) out.push(`${sched}-fallback`);
    if (f2) out.push(`${sched}-port`);
    if (display) return out;
  } else {
    if (f1) out.push('flag-1');
    if (f2) out.push('flag-2');
  }
  if (f3) out.push('flag-3');
  return out;
}
