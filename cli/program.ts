/**
 * The commander tree. `makeProgram` is a factory so tests can drive the real program in-process;
 * heavy modules (the native worker) load lazily inside the commands that need them.
 */
import { Command } from 'commander';
import { cleanupCommand } from './commands/cleanup.js';
import { doctorCommand } from './commands/doctor.js';
import { historyCommand } from './commands/history.js';
import { listCommand } from './commands/list.js';
import { attachCommand, logsCommand } from './commands/logs.js';
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
    // Usage errors are one line, like every other durabox error.
    .configureOutput({ outputError: (text, write) => write(`durabox: ${text.trim().replace(/^error: /, '')} (see durabox --help)\n`) });
  if (opts.exitOverride) program.exitOverride();
  // Only `run` passes options after its command through to that command (`durabox run npm test --ci`).
  program.addCommand(runCommand().passThroughOptions());
  for (const cmd of [warmupCommand(), statusCommand(), listCommand(), stopCommand(), sshCommand(), doctorCommand(), serverCommand(), workerCommand(), logsCommand(), attachCommand(), cleanupCommand(), historyCommand()]) {
    program.addCommand(cmd);
  }
  // addCommand does not inherit settings: give every (sub)command the program's exit behaviour.
  const inherit = (cmd: Command) => cmd.commands.forEach((sub) => (sub.copyInheritedSettings(cmd), inherit(sub)));
  inherit(program);
  return program;
}
