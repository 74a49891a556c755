/**
 * The names controllers give pods: `<ReplicaSet>-<5 characters>` (the
 * apiserver's generateName: five characters drawn from the alphabet below,
 * which has no vowels so no words are spelled) and, for a Deployment's
 * ReplicaSet, `<Deployment>-<pod-template-hash>`.
 *
 * The hash is made as the deployment controller makes it — a 32-bit FNV-1a of
 * the template, printed as a decimal number, each digit then mapped into the
 * same alphabet (SafeEncodeString) — but over podwire's canonical JSON of the
 * template as written (keys sorted), not over Go's dump of the defaulted
 * PodTemplateSpec struct, so its value differs from a real cluster's for the
 * same manifest. It changes when the template changes, as upstream's does.
 */
import type { Obj } from './object.js';

/** Letters and digits that never spell a word (no vowels, no 0/1/3 that look like letters). */
export const SAFE_ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

/** Maps every character of `s` into SAFE_ALPHANUMS by its code (SafeEncodeString). */
export function safeEncode(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += SAFE_ALPHANUMS[s.charCodeAt(i) % SAFE_ALPHANUMS.length];
  return out;
}

/** 32-bit FNV-1a of the UTF-8 bytes of `s`. */
export function fnv32a(s: string): number {
  const bytes = new TextEncoder().encode(s);
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h >>> 0;
}

/** JSON with object keys sorted at every level: one text per template whatever the key order written. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Obj;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** The `pod-template-hash` label of a Deployment's ReplicaSet (see the file comment for how it differs from upstream's value). */
export function podTemplateHash(template: Obj): string {
  return safeEncode(String(fnv32a(canonicalJson(template))));
}

/** Five characters of the generateName suffix, drawn with `rand(n)` (an integer in 0..n-1 from the run's PRNG). */
export function randomSuffix(rand: (n: number) => number): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += SAFE_ALPHANUMS[rand(SAFE_ALPHANUMS.length)];
  return s;
}
