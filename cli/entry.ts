#!/usr/bin/env node
/**
 * durabox's entry point (the build bundles it into dist/cli/main.js) and the only place where an exception becomes output: one line on stderr
 * (no stack) and an exit code from `exit-codes.ts`. Sets `process.exitCode` rather than exiting, so
 * pending output flushes.
 */
import { CliError } from './errors.js';
import { ExitCode } from './exit-codes.js';
import { trace } from './trace.js';
import { VERSION } from './version.js';
import { isProviderError } from '../providers/errors.js';

async function exitFor(err: unknown): Promise<{ code: number; message: string }> {
  if (err instanceof CliError) return { code: err.exitCode, message: err.message };
  // zod is loaded already if it threw this; importing it here keeps it off the start-up path.
  const { ZodError } = await import('zod');
  if (err instanceof ZodError) return { code: ExitCode.config, message: err.issues[0]?.message ?? 'invalid input' };
  if (isProviderError(err)) return { code: err.kind === 'invalid' ? ExitCode.config : ExitCode.provider, message: err.message };
  return { code: ExitCode.internal, message: err instanceof Error ? err.message.split('\n')[0] : String(err) };
}

async function main(): Promise<void> {
  // `durabox --version` alone answers before the command tree (and with it the Temporal client,
  // zod and every provider) is loaded: that would cost several times node's own start.
  const args = process.argv.slice(2);
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  const [{ CommanderError }, { makeProgram }] = await Promise.all([import('commander'), import('./program.js')]);
  const program = await makeProgram({ exitOverride: true, argv: args });
  trace('modules loaded');
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed its message (help, version, usage errors).
      process.exitCode = err.exitCode === 0 ? 0 : ExitCode.config;
      return;
    }
    const { code, message } = await exitFor(err);
    process.stderr.write(`durabox: ${message}\n`);
    process.exitCode = code;
  } finally {
    const { closeConnections } = await import('./temporal/connect.js');
    await closeConnections();
    trace('connections closed');
  }
}

process.on('exit', () => trace('exit event'));
await main();
