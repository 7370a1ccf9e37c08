/** Exclude-rule semantics and ssh transport error classification (no box needed). */
import { describe, expect, it } from 'vitest';
import { newLeaseId, useTempStateDir } from './helpers.js';
import { builtinRules, isExcluded, parseRules } from '../../providers/common/ignore.js';
import { sshExec } from '../../providers/common/remote.js';
import { hostKeyAliasFor } from '../../providers/common/ssh-options.js';
import { ensureLeaseKey } from '../../providers/common/keys.js';
import { isProviderError } from '../../providers/errors.js';

useTempStateDir();

describe('exclude rules', () => {
  const rules = [...builtinRules(), ...parseRules('*.log\n/top.txt\nbuild/\ndocs/**/*.pdf\n!docs/keep/**\n!important.log\n')];
  const ex = (p: string, tracked = false) => isExcluded(rules, p, tracked);

  it('applies gitignore-like globs, anchoring and dir-only rules, last match wins', () => {
    expect(ex('a.log')).toBe(true);
    expect(ex('deep/b.log')).toBe(true);
    expect(ex('important.log')).toBe(false);
    expect(ex('top.txt')).toBe(true);
    expect(ex('sub/top.txt')).toBe(false);
    expect(ex('build/x.o')).toBe(true);
    expect(ex('build')).toBe(false); // a file named build: the rule is dir-only
    expect(ex('docs/a/b/c.pdf')).toBe(true);
    expect(ex('docs/keep/c.pdf')).toBe(false);
    expect(ex('src/main.ts')).toBe(false);
  });

  it('built-in artifact dirs drop untracked files only; .durabox is always excluded', () => {
    expect(ex('node_modules/x/index.js')).toBe(true);
    expect(ex('node_modules/x/index.js', true)).toBe(false);
    expect(ex('pkg/dist/out.js')).toBe(true);
    expect(ex('.durabox/env', true)).toBe(true);
    expect(isExcluded(parseRules('!.durabox/env'), '.durabox/env', false)).toBe(true);
  });
});

describe('ssh transport errors', () => {
  it('exit 255 on a refused connection is transient', async () => {
    const leaseId = newLeaseId();
    const { keyPath } = await ensureLeaseKey(leaseId);
    const target = {
      user: 'root', host: '127.0.0.1', port: 1, keyPath, hostKeyAlias: hostKeyAliasFor(leaseId), workRoot: '/tmp',
      hostKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'],
    };
    const e = await sshExec(target, 'true').then(() => undefined, (err: unknown) => err);
    expect(isProviderError(e) && e.kind).toBe('transient');
    expect(isProviderError(e) && e.status).toBe(255);
    const unpinned = await sshExec({ ...target, hostKeys: [] }, 'true').then(() => undefined, (err: unknown) => err);
    expect(isProviderError(unpinned) && unpinned.kind).toBe('invalid');
  });
});
