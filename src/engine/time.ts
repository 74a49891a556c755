/** Virtual time helpers. All model time is a number of nanoseconds. */
export const NS = 1;
export const US = 1_000;
export const MS = 1_000_000;
export const S = 1_000_000_000;

const UNITS: Record<string, number> = { ns: NS, us: US, 'µs': US, ms: MS, s: S, m: 60 * S, h: 3600 * S };

/** Parses "1ms", "50us", "2.5s", "300" (ns). Returns undefined when malformed. */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? Math.round(text) : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h)?\s*$/.exec(text);
  if (!m) return undefined;
  return Math.round(parseFloat(m[1]) * UNITS[m[2] ?? 'ns']);
}

/** Formats ns as seconds with 9 decimals, the way trace lines show time. */
export function formatTime(ns: number): string {
  const s = Math.floor(ns / S);
  // 1e9 + fraction has exactly ten digits: drop the leading 1 instead of padding.
  return s + '.' + String(S + (ns - s * S)).slice(1);
}
