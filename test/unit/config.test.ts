/** Config precedence, strictness and repo trust, on real files in a temp dir. */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../cli/config/duration.js';
import { loadConfig } from '../../cli/config/load.js';
import { ConfigError } from '../../cli/errors.js';

function files(user?: string, repo?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'durabox-config-'));
  const userPath = join(dir, 'user.yaml');
  if (user !== undefined) writeFileSync(userPath, user);
  const repoRoot = join(dir, 'repo');
  if (repo !== undefined) {
    mkdirSync(repoRoot, { recursive: true });
    writeFileSync(join(repoRoot, 'durabox.yaml'), repo);
  }
  return { env: { DURABOX_CONFIG: userPath } as NodeJS.ProcessEnv, repoRoot };
}



describe('loadConfig', () => {
  it('has defaults: local provider, 30m idle, 90m ttl, CI forwarded', () => {
    const { env, repoRoot } = files();
    const { config, providerConfig } = loadConfig({ env, repoRoot });
    expect(config.provider).toBe('local');
    expect(config.idle).toBe(30 * 60_000);
    expect(config.ttl).toBe(90 * 60_000);
    expect(config.env).toEqual(['CI']);
    expect(config.release).toBeUndefined();
    expect(providerConfig).toMatchObject({ readyTimeoutMs: 120_000 });
  });

  it('applies flags > env > repo > user > defaults', () => {
    const { env, repoRoot } = files('ttl: 2h\nidle: 5m\nrelease: keep\n', 'ttl: 45m\nidle: 4m\n');
    let c = loadConfig({ env, repoRoot }).config;
    expect([c.ttl, c.idle, c.release]).toEqual([45 * 60_000, 4 * 60_000, 'keep']);
    c = loadConfig({ env: { ...env, DURABOX_IDLE: '3m' }, repoRoot }).config;
    expect(c.idle).toBe(3 * 60_000);
    c = loadConfig({ env: { ...env, DURABOX_IDLE: '3m' }, repoRoot, flags: { idle: '2m', release: 'stop' } }).config;
    expect([c.idle, c.release]).toEqual([2 * 60_000, 'stop']);
  });

  it('config replaces the env list; --env appends to it', () => {
    const { env, repoRoot } = files('env: [NODE_OPTIONS, MY_*]\n');
    const c = loadConfig({ env, repoRoot, extraEnv: ['EXTRA'] }).config;
    expect(c.env).toEqual(['NODE_OPTIONS', 'MY_*', 'EXTRA']);
  });

  it('merges provider sections across layers; a required key may come from another layer', () => {
    const { env, repoRoot } = files('provider: ssh\nssh:\n  port: 2222\n');
    const loaded = loadConfig({ env, repoRoot, flags: { ssh: { host: 'box.internal' } } });
    expect(loaded.providerConfig).toMatchObject({ host: 'box.internal', port: 2222 });
    expect(() => loadConfig({ env, repoRoot })).toThrow(/ssh\.host is required/);
  });

  it('names the source of an unknown key or a bad value', () => {
    const a = files('colour: blue\n');
    expect(() => loadConfig({ env: a.env, repoRoot: a.repoRoot })).toThrow(/user\.yaml: unknown key "colour"/);
    const b = files(undefined, 'local:\n  startTimeoutMs: soon\n');
    expect(() => loadConfig({ env: b.env, repoRoot: b.repoRoot })).toThrow(/durabox\.yaml: local\.startTimeoutMs/);
    expect(() => loadConfig({ env: { ...b.env, DURABOX_RELEASE: 'nuke' } })).toThrow(/environment \(DURABOX_\*\): release/);
    expect(() => loadConfig({ env: b.env, flags: { ttl: 'forever' } })).toThrow(ConfigError);
    const c = files('provider: [1\n');
    expect(() => loadConfig({ env: c.env })).toThrow(/not valid YAML/);
  });

  it('checks the settings of a provider that is not the selected one', () => {
    // Provider schemas are built only for the sections present: a present one is still checked.
    const a = files('vast:\n  maxPrice: cheap\n');
    expect(() => loadConfig({ env: a.env, repoRoot: a.repoRoot })).toThrow(/user\.yaml: vast\.maxPrice/);
    const b = files('coder:\n  colour: blue\n');
    expect(() => loadConfig({ env: b.env })).toThrow(/user\.yaml: unknown key "coder\.colour"/);
    expect(() => loadConfig({ env: { ...b.env, DURABOX_CONFIG: '/nonexistent/durabox.yaml', DURABOX_VAST_MAX_PRICE: 'cheap' } })).toThrow(/environment \(DURABOX_\*\): vast\.maxPrice/);
    expect(loadConfig({ env: files().env, flags: { vast: { maxPrice: 0.5 } } }).config.vast).toMatchObject({ maxPrice: 0.5 });
  });

  it('refuses repository config that redirects where credentials go', () => {
    const { env, repoRoot } = files('ssh:\n  host: box.internal\n', 'ssh:\n  keyPath: /tmp/k\n');
    expect(() => loadConfig({ env, repoRoot })).toThrow(/ssh\.keyPath may not be set in repository config/);
    const user = files('ssh:\n  host: box.internal\n  keyPath: /tmp/k\n');
    expect(loadConfig({ env: user.env, repoRoot: user.repoRoot, flags: { provider: 'ssh' } }).providerConfig).toMatchObject({ keyPath: '/tmp/k' });
  });

  it('rejects an unknown provider with the known list', () => {
    const { env } = files();
    expect(() => loadConfig({ env, flags: { provider: 'mainframe' } })).toThrow(/unknown provider "mainframe" \(known: local, ssh/);
  });
});

describe('parseDuration', () => {
  it.each([
    ['45s', 45_000],
    ['30m', 1_800_000],
    ['1h30m', 5_400_000],
    ['2500', 2500],
    ['1.5h', 5_400_000],
  ])('%s → %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', 'soon', '10 m', '5x', 'm5'])('%j is not a duration', (text) => expect(parseDuration(text)).toBeUndefined());
});

describe('--max-cost and the accrued cost', () => {
  it('maps --max-cost onto the lease budget; a non-number or a negative budget is a config error', async () => {
    const { leaseConfigFlags } = await import('../../cli/commands/lease-flags.js');
    const { env, repoRoot } = files();
    expect(loadConfig({ env, repoRoot, flags: leaseConfigFlags({ maxCost: '2.50' }) }).config.maxCost).toBe(2.5);
    expect(loadConfig({ env, repoRoot }).config.maxCost).toBeUndefined();
    expect(() => loadConfig({ env, repoRoot, flags: leaseConfigFlags({ maxCost: 'cheap' }) })).toThrow(/maxCost/);
    expect(() => loadConfig({ env, repoRoot, flags: leaseConfigFlags({ maxCost: '-1' }) })).toThrow(/maxCost/);
  });

  it('status shows rate × time until release, with the budget', async () => {
    const { formatStatus } = await import('../../cli/commands/status.js');
    const { accruedCost } = await import('../../cli/cost.js');
    const base = { leaseId: 'dbx_1', slug: 's', provider: 'vast', phase: 'released' as const, releaseAction: 'delete' as const, ttlDeadline: '2026-01-01T09:00:00.000Z', runs: [] };
    const s = {
      ...base,
      box: { provider: 'vast', leaseId: 'dbx_1', resourceId: '42', scope: 'x', details: {}, costPerHour: 0.6 },
      boxCreatedAt: '2026-01-01T00:00:00.000Z',
      maxCost: 5,
      released: { action: 'delete' as const, at: '2026-01-01T01:30:00.000Z', reason: 'after-run' },
    };
    expect(formatStatus(s)).toContain('cost:     $0.90 (1.50 h at $0.600/h; budget $5.00)');
    // Free boxes (no quoted rate) show no cost line.
    expect(formatStatus({ ...base, box: { ...s.box, costPerHour: undefined } })).not.toContain('cost:');
    expect(accruedCost({ costPerHour: 2, boxCreatedAt: '2026-01-01T00:00:00.000Z' }, new Date('2026-01-01T00:15:00.000Z'))?.cost).toBeCloseTo(0.5);
  });
});

describe('provider settings from the environment', () => {
  it('DURABOX_<PROVIDER>_<KEY> sets provider keys with their schema types; bad values fail with the key', () => {
    const { env, repoRoot } = files();
    const loaded = loadConfig({
      env: { ...env, DURABOX_PROVIDER: 'vast', DURABOX_VAST_API_URL: 'http://127.0.0.1:9/api/v0', DURABOX_VAST_MAX_PRICE: '0.45', DURABOX_VAST_MAX_OFFERS: '4', DURABOX_MAX_COST: '3' },
      repoRoot,
    });
    expect(loaded.providerConfig).toMatchObject({ apiUrl: 'http://127.0.0.1:9', maxPrice: 0.45, maxOffers: 4 });
    expect(loaded.config.maxCost).toBe(3);
    // Flags still win over the environment.
    expect(loadConfig({ env: { ...env, DURABOX_PROVIDER: 'vast', DURABOX_VAST_MAX_PRICE: '0.45' }, repoRoot, flags: { vast: { maxPrice: 0.3 } } }).providerConfig.maxPrice).toBe(0.3);
    expect(() => loadConfig({ env: { ...env, DURABOX_PROVIDER: 'vast', DURABOX_VAST_MAX_PRICE: 'cheap' }, repoRoot })).toThrow(/maxPrice/);
  });
});
