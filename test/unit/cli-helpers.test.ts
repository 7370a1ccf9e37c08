/** Environment forwarding and origin sanitizing: what may leave this machine. */
import { describe, expect, it } from 'vitest';
import { forwardedEnv } from '../../cli/env-forward.js';
import { safeOrigin } from '../../cli/repo-context.js';
import { describeRun } from '../../workflows/describe.js';

describe('forwardedEnv', () => {
  const env = { CI: '1', NODE_OPTIONS: '--max-old-space-size=512', MY_A: 'a', MY_B: 'b', GH_TOKEN: 'secret', MY_SECRET: 'x', DURABOX_RUN_ID: 'spoof' };
  it('forwards only allowlisted names that are set, with prefix patterns', () => {
    const warnings: string[] = [];
    expect(forwardedEnv(['CI', 'MY_*', 'UNSET', 'DURABOX_RUN_ID'], env, (w) => warnings.push(w))).toEqual({ CI: '1', MY_A: 'a', MY_B: 'b' });
    expect(warnings).toEqual(['not forwarding MY_SECRET: it looks like a credential']);
  });
  it('never forwards credential-looking names even when asked', () => {
    expect(forwardedEnv(['GH_TOKEN'], env, () => undefined)).toEqual({});
  });
});

describe('safeOrigin', () => {
  it.each([
    ['https://user:ghp_abc@github.com/o/r.git', 'github.com/o/r'],
    ['git@github.com:o/r.git', 'github.com/o/r'],
    ['ssh://git@host:2222/o/r', 'host:2222/o/r'],
  ])('%s → %s', (url, safe) => {
    expect(safeOrigin(url)).toBe(safe);
    expect(safeOrigin(url)).not.toContain('ghp_');
  });
});

describe('describeRun', () => {
  it('quotes odd arguments and bounds the length', () => {
    expect(describeRun(['npm', 'test'])).toBe('run `npm test`');
    expect(describeRun(['sh', '-c', 'echo hi'])).toBe('run `sh -c "echo hi"`');
    expect(describeRun(['x'.repeat(200)]).length).toBeLessThan(100);
  });
});
