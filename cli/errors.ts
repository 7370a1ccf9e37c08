/** Errors the CLI turns into one stderr line and an exit code (see `cli/entry.ts`). */
import { ExitCode, type ExitCodeValue } from './exit-codes.js';

/** Thrown by the CLI when an error should end the command with a specific exit code. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
  ) {
    super(message);
  }
}

/** Thrown by config loading and flag parsing when input is invalid; nothing has been created. */
export class ConfigError extends CliError {
  override name = 'ConfigError';
  constructor(message: string) {
    super(message, ExitCode.config);
  }
}

/** Thrown when a lease id or slug names no lease. */
export class LeaseNotFoundError extends CliError {
  override name = 'LeaseNotFoundError';
  constructor(ref: string) {
    super(`no lease ${JSON.stringify(ref)} (see durabox list)`, ExitCode.notFound);
  }
}
