/** Colour only on a terminal, never with NO_COLOR or --no-color. */
import { describe, expect, it } from 'vitest';
import { colorStyle, plainStyle, styleFor, wantColor } from '../../src/cli/style.js';

describe('style', () => {
  it('colours a TTY unless NO_COLOR is set (non-empty) or colour is turned off', () => {
    expect(wantColor({ isTTY: true }, {}, {})).toBe(true);
    expect(wantColor({ isTTY: false }, {}, {})).toBe(false);
    expect(wantColor({}, {}, {})).toBe(false);
    expect(wantColor({ isTTY: true }, { color: false }, {})).toBe(false);
    expect(wantColor({ isTTY: true }, {}, { NO_COLOR: '1' })).toBe(false);
    expect(wantColor({ isTTY: true }, {}, { NO_COLOR: '' })).toBe(true);
    expect(styleFor({ isTTY: true }, {}, {})).toBe(colorStyle);
    expect(styleFor({ isTTY: true }, {}, { NO_COLOR: 'x' })).toBe(plainStyle);
  });

  it('plain style is the identity; colour wraps in SGR codes and leaves empty text alone', () => {
    expect(plainStyle.bad('FAIL')).toBe('FAIL');
    expect(colorStyle.bad('FAIL')).toBe('\x1b[31mFAIL\x1b[39m');
    expect(colorStyle.ok('')).toBe('');
  });
});
