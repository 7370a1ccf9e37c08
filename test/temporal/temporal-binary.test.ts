/** Where findTemporalCli looks, in order, and its one-line error when nothing is found. */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findTemporalCli } from '../../cli/temporal/temporal-binary.js';

describe('findTemporalCli', () => {
  const saved = { ...process.env };
  let dir: string;
  const fake = (rel: string) => {
    const p = join(dir, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, '#!/bin/sh\necho "$@"\n');
    chmodSync(p, 0o755);
    return p;
  };

  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'durabox-tcli-'))));
  afterEach(() => (process.env = { ...saved }));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prefers DURABOX_TEMPORAL_CLI, and rejects one that is not executable', async () => {
    process.env.DURABOX_TEMPORAL_CLI = fake('env/temporal');
    process.env.PATH = join(dir, 'path');
    fake('path/temporal');
    expect(await findTemporalCli({ install: false })).toBe(join(dir, 'env/temporal'));
    process.env.DURABOX_TEMPORAL_CLI = join(dir, 'missing');
    await expect(findTemporalCli({ install: false })).rejects.toThrow(/DURABOX_TEMPORAL_CLI=.* is not an executable file/);
  });

  it('then PATH', async () => {
    delete process.env.DURABOX_TEMPORAL_CLI;
    process.env.PATH = `${join(dir, 'empty')}:${join(dir, 'path')}`;
    expect(await findTemporalCli({ install: false })).toBe(join(dir, 'path/temporal'));
  });

  it("then go's bin dir, asking go only when it exists", async () => {
    delete process.env.DURABOX_TEMPORAL_CLI;
    // A stand-in `go` whose `go env GOBIN GOPATH` prints an empty GOBIN and our GOPATH.
    const goDir = join(dir, 'gotool');
    mkdirSync(goDir, { recursive: true });
    writeFileSync(join(goDir, 'go'), `#!/bin/sh\necho ""\necho "${join(dir, 'gopath')}"\n`);
    chmodSync(join(goDir, 'go'), 0o755);
    process.env.PATH = goDir;
    await expect(findTemporalCli({ install: false })).rejects.toThrow(/go install github.com\/temporalio\/cli\/cmd\/temporal@v1\.5\.1/);
    const built = fake('gopath/bin/temporal');
    expect(await findTemporalCli({ install: false })).toBe(built);
  });

  it('fails with one line saying how to install when there is no Go', async () => {
    delete process.env.DURABOX_TEMPORAL_CLI;
    process.env.PATH = join(dir, 'empty');
    const err = await findTemporalCli().catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^Temporal CLI not found: install Go and run `go install .*@v1\.5\.1`/);
    expect((err as Error).message).not.toContain('\n');
  });
});
