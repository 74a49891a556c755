/** `-m comment --comment TEXT` (xt_comment): always matches; at most 255 characters; saved with xtables_save_string quoting. */
import type { Match } from '../types.js';
import type { MatchModule } from '../registry.js';
import { ModuleError, onlyOnce, saveString } from '../tokens.js';

export class CommentMatch implements Match {
  readonly name = 'comment';
  constructor(readonly comment: string) {}
  matches(): boolean { return true; }
  save(): string { return `-m comment --comment ${saveString(this.comment)}`; }
}

export const commentModule: MatchModule = {
  name: 'comment',
  options: [{ name: 'comment', args: 1 }],
  parse(args) {
    onlyOnce('comment', args);
    if (args.length === 0) throw new ModuleError('comment: option "--comment" must be specified', undefined, '--comment TEXT');
    const c = args[0].values[0];
    if (c.length > 255) throw new ModuleError('comment: option "--comment" value too long (max 255 characters)', args[0].valueToks[0]);
    return new CommentMatch(c);
  },
};

/** Factory (no parsing): the match `-m comment --comment TEXT` builds. */
export function commentMatch(text: string): CommentMatch {
  return new CommentMatch(text);
}
