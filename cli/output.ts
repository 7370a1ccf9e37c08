/**
 * All CLI printing goes through here: results on stdout (human text or one JSON document), progress
 * and warnings on stderr with the elapsed time, so `durabox … --json | jq` stays clean.
 */
export interface Output {
  json: boolean;
  /** The command's result. */
  result(human: string, data: unknown): void;
  /** A progress step on stderr, e.g. "[1.2s] box ready". Silent with --quiet. */
  step(message: string): void;
  warn(message: string): void;
}

export function makeOutput(opts: { json?: boolean; quiet?: boolean } = {}, streams = { out: process.stdout, err: process.stderr }): Output {
  const started = Date.now();
  const stamp = () => `[${((Date.now() - started) / 1000).toFixed(1)}s]`;
  return {
    json: !!opts.json,
    result(human, data) {
      streams.out.write(opts.json ? `${JSON.stringify(data, null, 2)}\n` : human.endsWith('\n') || human === '' ? human : `${human}\n`);
    },
    step(message) {
      if (!opts.quiet) streams.err.write(`durabox ${stamp()} ${message}\n`);
    },
    warn(message) {
      streams.err.write(`durabox: warning: ${message}\n`);
    },
  };
}
