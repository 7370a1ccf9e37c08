/**
 * The commander tree. `makeProgram` is a factory so tests can drive the real program in-process;
 * heavy modules (the native worker) load lazily inside the commands that need them.
 */
import { Command } from 'commander';
import { doctorCommand } from './commands/doctor.js';
import { listCommand } from './commands/list.js';
import { runCommand } from './commands/run.js';
import { serverCommand } from './commands/server.js';
import { sshCommand } from './commands/ssh.js';
import { statusCommand } from './commands/status.js';
import { stopCommand } from './commands/stop.js';
import { warmupCommand } from './commands/warmup.js';
import { workerCommand } from './commands/worker.js';
import { VERSION } from './version.js';

export function makeProgram(opts: { exitOverride?: boolean } = {}): Command {
  const program = new Command('durabox')
    .description('lease remote machines for your commands; every lease is a durable Temporal workflow')
    .version(VERSION)
    .option('--json', 'print results as JSON on stdout')
    .option('-q, --quiet', 'no progress lines on stderr')
    .enablePositionalOptions()
    .showHelpAfterError('(run durabox --help for usage)');
  for (const cmd of [runCommand(), warmupCommand(), statusCommand(), listCommand(), stopCommand(), sshCommand(), doctorCommand(), serverCommand(), workerCommand()]) {
    program.addCommand(cmd.passThroughOptions());
  }
  if (opts.exitOverride) program.exitOverride();
  return program;
}
