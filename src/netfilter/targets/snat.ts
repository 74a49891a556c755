/**
 * `-j SNAT --to-source ip[-ip][:port[-port]] [--random] [--random-fully] [--persistent]`
 * (nat table, POSTROUTING/INPUT hooks — kernel checks, verified). Calls
 * p.ops.natSetup(p, 'src', range).
 */
import { natModule } from './dnat.js';

export const snatModule = natModule('SNAT');
