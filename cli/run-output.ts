/**
 * Live output for `durabox run`: the worker appends each run's remote stdout/stderr to
 * `<state>/runs/<runId>/`, and the CLI on the same machine follows those files from its own offsets.
 * A reattaching worker rewrites bytes at the same offsets, so the CLI never prints a byte twice.
 */
import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { stateDir } from '../providers/common/state-dir.js';

export interface Follower {
  /** Print whatever is left and stop. */
  finish(): Promise<void>;
}

export function runLogPaths(runId: string) {
  const dir = join(stateDir(), 'runs', runId);
  return { dir, stdout: join(dir, 'stdout'), stderr: join(dir, 'stderr') };
}

function drain(path: string, offset: number, sink: NodeJS.WritableStream): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return offset;
  }
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(64 * 1024);
    while (offset < size) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - offset), offset);
      if (n <= 0) break;
      sink.write(Buffer.from(buf.subarray(0, n)));
      offset += n;
    }
    return offset;
  } finally {
    closeSync(fd);
  }
}

export function followRunOutput(runId: string, sinks = { out: process.stdout as NodeJS.WritableStream, err: process.stderr as NodeJS.WritableStream }, intervalMs = 100): Follower {
  const paths = runLogPaths(runId);
  let out = 0;
  let err = 0;
  const tick = () => {
    out = drain(paths.stdout, out, sinks.out);
    err = drain(paths.stderr, err, sinks.err);
  };
  const timer = setInterval(tick, intervalMs);
  return {
    async finish() {
      clearInterval(timer);
      tick();
    },
  };
}
