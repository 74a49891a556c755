/**
 * The standard targets: ACCEPT, DROP, RETURN, and a jump (`-j CHAIN`) or goto
 * (`-g CHAIN`) to a user chain. A rule without -j has no target (counts only).
 */
import type { PacketCtx, Target, TargetVerdict } from '../types.js';
import type { TargetModule } from '../registry.js';

const ACCEPT: TargetVerdict = { kind: 'accept' };
const DROP: TargetVerdict = { kind: 'drop' };
const RETURN: TargetVerdict = { kind: 'return' };

export class VerdictTarget implements Target {
  constructor(readonly name: 'ACCEPT' | 'DROP' | 'RETURN', private readonly v: TargetVerdict) {}
  run(_p: PacketCtx): TargetVerdict { return this.v; }
  /** What run() always returns (the traversal decides these targets without calling run). */
  get verdict(): TargetVerdict { return this.v; }
  save(): string { return `-j ${this.name}`; }
}

/**
 * The internalized copy of `s` (V8 internalizes property keys). A table's chain names are
 * internalized Map keys, so a jump that names its chain with the same string object is looked
 * up by identity instead of by comparing characters on every traversal.
 */
function intern(s: string): string {
  return Object.keys({ [s]: 0 })[0]!;
}

export class ChainTarget implements Target {
  private readonly v: TargetVerdict;
  constructor(readonly name: string, readonly goto: boolean) {
    const chain = intern(name);
    this.v = goto ? { kind: 'goto', chain } : { kind: 'jump', chain };
  }
  run(_p: PacketCtx): TargetVerdict { return this.v; }
  /** What run() always returns (the traversal decides these targets without calling run). */
  get verdict(): TargetVerdict { return this.v; }
  save(): string { return `${this.goto ? '-g' : '-j'} ${this.name}`; }
}

function verdictModule(name: 'ACCEPT' | 'DROP' | 'RETURN', v: TargetVerdict): TargetModule {
  const t = new VerdictTarget(name, v);
  return { name, options: [], parse: () => t };
}

export const acceptModule = verdictModule('ACCEPT', ACCEPT);
export const dropModule = verdictModule('DROP', DROP);
export const returnModule = verdictModule('RETURN', RETURN);

const ACCEPT_T = new VerdictTarget('ACCEPT', ACCEPT);
const DROP_T = new VerdictTarget('DROP', DROP);
const RETURN_T = new VerdictTarget('RETURN', RETURN);
/** Factories (no parsing): `-j ACCEPT`, `-j DROP`, `-j RETURN` (shared immutable instances), `-j CHAIN` / `-g CHAIN`. */
export function acceptTarget(): VerdictTarget { return ACCEPT_T; }
export function dropTarget(): VerdictTarget { return DROP_T; }
export function returnTarget(): VerdictTarget { return RETURN_T; }
export function jumpTarget(chain: string, goto = false): ChainTarget { return new ChainTarget(chain, goto); }
