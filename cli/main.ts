#!/usr/bin/env node
/**
 * durabox's entry point and the only place where an exception becomes output: one line on stderr
 * (no stack) and an exit code from `exit-codes.ts`. Sets `process.exitCode` rather than exiting, so
 * pending output flushes.
 */
import { CommanderError } from 'commander';
import { ZodError } from 'zod';
import { CliError } from './errors.js';
import { ExitCode } from './exit-codes.js';
import { makeProgram } from './program.js';
import { isProviderError } from '../providers/errors.js';

function exitFor(err: unknown): { code: number; message: string } {
  if (err instanceof CliError) return { code: err.exitCode, message: err.message };
  if (err instanceof ZodError) return { code: ExitCode.config, message: err.issues[0]?.message ?? 'invalid input' };
  if (isProviderError(err)) return { code: err.kind === 'invalid' ? ExitCode.config : ExitCode.provider, message: err.message };
  return { code: ExitCode.internal, message: err instanceof Error ? err.message.split('\n')[0] : String(err) };
}

async function main(): Promise<void> {
  const program = makeProgram({ exitOverride: true });
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed its message (help, version, usage errors).
      process.exitCode = err.exitCode === 0 ? 0 : ExitCode.config;
      return;
    }
    const { code, message } = exitFor(err);
    process.stderr.write(`durabox: ${message}\n`);
    process.exitCode = code;
  } finally {
    const { closeConnections } = await import('./temporal/connect.js');
    await closeConnections();
  }
}

await main();
