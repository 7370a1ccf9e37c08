/**
 * The CLI ships as a bundle (scripts/post-build.mjs): dist/cli/main.js and its chunks. Files it
 * needs beside it are found from the package root, and its start-up dependencies are inside it.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { distFile, packageRootOf } from '../../cli/package-paths.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('package paths', () => {
  it('finds the nearest package.json above a chunk, at any depth', () => {
    const pkg = mkdtempSync(join(tmpdir(), 'durabox-pkg-'));
    dirs.push(pkg);
    writeFileSync(join(pkg, 'package.json'), '{}');
    mkdirSync(join(pkg, 'dist', 'cli', 'chunks'), { recursive: true });
    expect(packageRootOf(join(pkg, 'dist', 'cli', 'chunks'))).toBe(pkg);
    expect(packageRootOf(join(pkg, 'dist'))).toBe(pkg);
  });

  it('fails with the path when no package.json is above it', () => {
    const bare = mkdtempSync(join(tmpdir(), 'durabox-bare-'));
    dirs.push(bare);
    // /tmp has no package.json above it on these machines; the error names where it looked from.
    expect(() => packageRootOf(bare)).toThrow(`no package.json above ${bare}`);
  });

  it("resolves this checkout's build from the TypeScript sources", () => {
    expect(distFile('cli/main.js')).toBe(join(ROOT, 'dist', 'cli', 'main.js'));
    expect(distFile('workflow-bundle.js')).toBe(join(ROOT, 'dist', 'workflow-bundle.js'));
  });
});

describe('the built CLI', () => {
  /** Files the CLI process loads for `args`, as an ESM load hook reports them. */
  function loadedFiles(args: string[]): string[] {
    const hook = `data:text/javascript,${encodeURIComponent(
      `import { register } from 'node:module'; register('data:text/javascript,' + encodeURIComponent(` +
        `"export async function load(u, c, n) { process._rawDebug('LOADED ' + u); return n(u, c); }"));`,
    )}`;
    const res = spawnSync(process.execPath, ['--import', hook, distFile('cli/main.js'), ...args], { encoding: 'utf8', cwd: ROOT });
    expect(res.status, res.stderr).toBe(0);
    return res.stderr.split('\n').filter((l) => l.startsWith('LOADED file://')).map((l) => l.slice('LOADED file://'.length));
  }

  it('carries zod and commander inside the bundle and loads no Temporal SDK for help', () => {
    const files = loadedFiles(['run', '--help']);
    expect(files.length).toBeGreaterThan(1);
    expect(files.every((f) => f.startsWith(join(ROOT, 'dist', 'cli')))).toBe(true);
    expect(files.filter((f) => f.includes('/node_modules/'))).toEqual([]);
  });
});
