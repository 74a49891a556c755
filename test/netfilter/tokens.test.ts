/** The tokenizer's fast path (unquoted words sliced from the line) gives exactly what the character-by-character reference gives. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tokenize, ValueError, type Token } from '../../src/netfilter/tokens.js';

/** The tokenizer as it was (one character at a time): the reference. */
function reference(line: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    const c = line[i];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') { i++; continue; }
    const start = i;
    let text = '';
    let quoted = false;
    while (i < n) {
      const ch = line[i];
      if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n') break;
      if (ch === '"') {
        quoted = true;
        i++;
        let closed = false;
        while (i < n) {
          const q = line[i];
          if (q === '\\' && i + 1 < n) { text += line[i + 1]; i += 2; continue; }
          if (q === '"') { closed = true; i++; break; }
          text += q;
          i++;
        }
        if (!closed) throw new ValueError('unterminated quoted string');
        continue;
      }
      text += ch;
      i++;
    }
    out.push({ text, col: start + 1, quoted });
  }
  return out;
}

const run = (f: (l: string) => Token[], l: string): Token[] | string => {
  try { return f(l); } catch (e) { return `${(e as Error).constructor.name}: ${(e as Error).message}`; }
};

describe('tokenize', () => {
  it('equals the reference on lines made of words, quotes, backslashes and blanks', () => {
    const piece = fc.constantFrom('a', 'KUBE-SVC-X', '-j', '"', '\\', ' ', '  ', '\t', '\r', '\n', '"a b"', '"x\\"y"', "'", '!', '10.0.0.1/32', '');
    fc.assert(fc.property(fc.array(piece, { maxLength: 14 }), (parts) => {
      const line = parts.join('');
      expect(run(tokenize, line)).toEqual(run(reference, line));
    }), { numRuns: 3000 });
  });

  it('a kube-proxy rule', () => {
    const l = '-A KUBE-SVC-X -m comment --comment "ns1/svc1:p80 -> 10.244.0.1:80" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-ABC';
    expect(tokenize(l)).toEqual(reference(l));
  });
});
