/**
 * Readiness after the provider says "up": the SSH probe (pinning the host key on first use), then
 * the tool check and, where we may, installing the missing tools (providers.md 1.5).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProgressContext, SshTarget } from '../adapter.js';
import { isProviderError, ProviderError } from '../errors.js';
import { abortError } from './exec.js';
import { pinHostKey } from './host-key.js';
import { shellQuote, sshExec } from './remote.js';

export const REQUIRED_TOOLS = ['git', 'rsync', 'tar'] as const;

export interface WaitForSshOptions {
  /** Overall limit for the SSH probe loop. @default 120000 */
  timeoutMs?: number;
  /** Skip the tool check/bootstrap (tests, or a caller that does its own). @default false */
  skipToolCheck?: boolean;
}

/** Poll until `ssh … true` works; returns the target with its host key pinned. */
export async function waitForSsh(target: SshTarget, ctx: ProgressContext, opts: WaitForSshOptions = {}): Promise<SshTarget> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  let delay = 250;
  let last: unknown;
  let pinned: SshTarget | undefined;
  for (let attempt = 1; !pinned; attempt++) {
    if (ctx.signal.aborted) throw abortError(ctx.signal);
    ctx.heartbeat({ phase: 'ssh-wait', attempt });
    try {
      pinned = await pinHostKey(target, { signal: ctx.signal, timeoutMs: Math.max(5_000, Math.min(30_000, deadline - Date.now())) });
      break;
    } catch (e) {
      // Keys installed by cloud-init arrive late, so a refused key is retried too; a changed host key is not.
      if (!isProviderError(e) || !['transient', 'auth', 'not-ready'].includes(e.kind)) throw e;
      last = e;
    }
    if (Date.now() + delay > deadline) {
      throw new ProviderError('not-ready', `ssh to ${target.hostKeyAlias} not ready after ${Math.round(timeoutMs / 1000)} s: ${(last as Error).message}`, {
        provider: 'common',
        operation: 'waitForSsh',
        cause: last,
      });
    }
    await sleep(delay, undefined, { signal: ctx.signal }).catch(() => {
      throw abortError(ctx.signal);
    });
    delay = Math.min(delay * 2, 3_000);
  }
  if (!opts.skipToolCheck) await ensureTools(pinned, ctx);
  return pinned;
}

interface ToolState {
  missing: string[];
  workRootOk: boolean;
  priv: 'root' | 'sudo' | 'none';
}

async function toolState(t: SshTarget, ctx: ProgressContext): Promise<ToolState> {
  const wr = shellQuote(t.workRoot);
  const script = [
    `m=; for t in ${REQUIRED_TOOLS.join(' ')}; do command -v "$t" >/dev/null 2>&1 || m="$m $t"; done; echo "missing:$m"`,
    `if mkdir -p -- ${wr} 2>/dev/null && [ -w ${wr} ]; then echo workroot:ok; else echo workroot:bad; fi`,
    `if [ "$(id -u)" = 0 ]; then echo priv:root; elif sudo -n true 2>/dev/null; then echo priv:sudo; else echo priv:none; fi`,
  ].join('; ');
  const res = await sshExec(t, script, { signal: ctx.signal, timeoutMs: 60_000 });
  const field = (k: string) => res.stdout.match(new RegExp(`^${k}:(.*)$`, 'm'))?.[1]?.trim() ?? '';
  return {
    missing: field('missing').split(/\s+/).filter(Boolean),
    workRootOk: field('workroot') === 'ok',
    priv: (field('priv') || 'none') as ToolState['priv'],
  };
}

/** The tool check, one install attempt when we have root or passwordless sudo, then the verdict. */
export async function ensureTools(t: SshTarget, ctx: ProgressContext): Promise<void> {
  let st = await toolState(t, ctx);
  if (st.missing.length > 0 && st.priv !== 'none') {
    ctx.log(`installing ${st.missing.join(' ')} on ${t.hostKeyAlias}`);
    const beat = setInterval(() => ctx.heartbeat({ phase: 'bootstrap' }), 10_000);
    try {
      await sshExec(t, installScript(st.missing, st.priv === 'sudo'), { signal: ctx.signal, timeoutMs: 10 * 60_000 });
    } finally {
      clearInterval(beat);
    }
    st = await toolState(t, ctx);
  }
  if (st.missing.length > 0) {
    throw new ProviderError('invalid', `box ${t.hostKeyAlias} lacks ${st.missing.join(', ')} and we cannot install them (no root or sudo -n)`, {
      provider: 'common',
      operation: 'ensureTools',
    });
  }
  if (!st.workRootOk) {
    throw new ProviderError('invalid', `work root ${t.workRoot} on ${t.hostKeyAlias} cannot be created or is not writable`, {
      provider: 'common',
      operation: 'ensureTools',
    });
  }
}

function installScript(pkgs: string[], sudo: boolean): string {
  const s = sudo ? 'sudo -n ' : '';
  const p = pkgs.map(shellQuote).join(' ');
  return [
    `if command -v apt-get >/dev/null 2>&1; then ${s}env DEBIAN_FRONTEND=noninteractive apt-get update -qq && ${s}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${p}`,
    `elif command -v dnf >/dev/null 2>&1; then ${s}dnf install -y ${p}`,
    `elif command -v yum >/dev/null 2>&1; then ${s}yum install -y ${p}`,
    `elif command -v apk >/dev/null 2>&1; then ${s}apk add --no-cache ${p}`,
    `else echo 'no known package manager' >&2; exit 3; fi`,
  ].join('; ');
}
