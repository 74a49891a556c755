/** `-m connmark [!] --mark value[/mask]` (xt_connmark): tests the conntrack entry's mark; no entry (untracked/invalid) never matches. */
import { markModule } from './mark.js';

export const connmarkModule = markModule('connmark');
