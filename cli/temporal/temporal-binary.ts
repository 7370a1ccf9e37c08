/**
 * Locate the Temporal CLI (which embeds the dev server). No npm or Debian package ships it, so the
 * fallback is building it with Go; v1.5.1 is the last tag `go install pkg@version` accepts (later
 * tags carry a `replace` directive in go.mod).
 */
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export const TEMPORAL_CLI_VERSION = '1.5.1';
export const TEMPORAL_CLI_MODULE = `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`;

const INSTALL_HINT =
  `Temporal CLI not found: install Go and run \`go install ${TEMPORAL_CLI_MODULE}\`, ` +
  'or set DURABOX_TEMPORAL_CLI to the path of a `temporal` binary';

export interface FindTemporalCliOptions {
  /** Build it with `go install` when missing and Go is present (default true). */
  install?: boolean;
  /** Progress lines for the user (stderr in the CLI). */
  log?: (line: string) => void;
}

export async function findTemporalCli(opts: FindTemporalCliOptions = {}): Promise<string> {
  const fromEnv = process.env.DURABOX_TEMPORAL_CLI;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`DURABOX_TEMPORAL_CLI=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const onPath = whichSync('temporal');
  if (onPath) return onPath;

  const go = whichSync('go');
  if (!go) throw new Error(INSTALL_HINT);
  const gopathBin = await goBinDir(go);
  const built = gopathBin ? join(gopathBin, 'temporal') : undefined;
  if (built && isExecutable(built)) return built;

  if (opts.install === false || !built) throw new Error(INSTALL_HINT);
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  log(`installing the Temporal CLI with go install ${TEMPORAL_CLI_MODULE} (takes a few minutes, once)`);
  await goInstall(go);
  if (!isExecutable(built)) throw new Error(`go install finished but ${built} is missing; ${INSTALL_HINT}`);
  log(`installed ${built}`);
  return built;
}

function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function whichSync(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** `$GOBIN` if set, else the first `$GOPATH` entry's bin, as `go install` decides. */
function goBinDir(go: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(go, ['env', 'GOBIN', 'GOPATH'], { timeout: 15_000 }, (err, stdout) => {
      if (err) return resolve(undefined);
      const [gobin, gopath] = stdout.split('\n').map((s) => s.trim());
      if (gobin) return resolve(gobin);
      const first = gopath?.split(delimiter)[0];
      resolve(first ? join(first, 'bin') : undefined);
    });
  });
}

function goInstall(go: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // Go's own progress goes to our stderr so a long first build does not look hung.
    const child = spawn(go, ['install', TEMPORAL_CLI_MODULE], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', (err) => reject(new Error(`go install failed to start: ${err.message}`)));
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`go install ${TEMPORAL_CLI_MODULE} failed (${signal ?? `exit ${code}`}); ${INSTALL_HINT}`));
    });
  });
}
