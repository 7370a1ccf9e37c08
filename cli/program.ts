/**
 * The commander tree. `makeProgram` is a factory so tests can drive the real program in-process;
 * heavy modules (the native worker) load lazily inside the commands that need them.
 */
import { Command } from 'commander';
import { VERSION } from './version.js';

/**
 * Each command's module, loaded on demand: `durabox run …` then loads only what `run` needs (about
 * 0.15 s less of module loading on a 2-core machine), while help and unknown names load them all.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./commands/run.js')).runCommand().passThroughOptions(),
  warmup: async () => (await import('./commands/warmup.js')).warmupCommand(),
  status: async () => (await import('./commands/status.js')).statusCommand(),
  list: async () => (await import('./commands/list.js')).listCommand(),
  stop: async () => (await import('./commands/stop.js')).stopCommand(),
  ssh: async () => (await import('./commands/ssh.js')).sshCommand(),
  doctor: async () => (await import('./commands/doctor.js')).doctorCommand(),
  server: async () => (await import('./commands/server.js')).serverCommand(),
  worker: async () => (await import('./commands/worker.js')).workerCommand(),
  logs: async () => (await import('./commands/logs.js')).logsCommand(),
  attach: async () => (await import('./commands/logs.js')).attachCommand(),
  cleanup: async () => (await import('./commands/cleanup.js')).cleanupCommand(),
  history: async () => (await import('./commands/history.js')).historyCommand(),
};

/**
 * The command `argv` (without node and script) names, after the program's own flags. None when
 * those flags ask for help: `durabox --help run` prints the whole program's help.
 */
function namedCommand(argv: readonly string[]): string | undefined {
  const at = argv.findIndex((a) => !a.startsWith('-'));
  if (at === -1 || argv.slice(0, at).some((a) => a === '-h' || a === '--help')) return undefined;
  return Object.hasOwn(COMMANDS, argv[at]!) ? argv[at] : undefined;
}

export async function makeProgram(opts: { exitOverride?: boolean; argv?: readonly string[] } = {}): Promise<Command> {
  const program = new Command('durabox')
    .description('lease remote machines for your commands; every lease is a durable Temporal workflow')
    .version(VERSION)
    .option('--json', 'print results as JSON on stdout')
    .option('-q, --quiet', 'no progress lines on stderr')
    .enablePositionalOptions()
    // Usage errors are one line, like every other durabox error.
    .configureOutput({ outputError: (text, write) => write(`durabox: ${text.trim().replace(/^error: /, '')} (see durabox --help)\n`) });
  if (opts.exitOverride) program.exitOverride();
  const one = opts.argv ? namedCommand(opts.argv) : undefined;
  const names = one ? [one] : Object.keys(COMMANDS);
  for (const cmd of await Promise.all(names.map((n) => COMMANDS[n]!()))) program.addCommand(cmd);
  // addCommand does not inherit settings: give every (sub)command the program's exit behaviour.
  const inherit = (cmd: Command) => cmd.commands.forEach((sub) => (sub.copyInheritedSettings(cmd), inherit(sub)));
  inherit(program);
  return program;
}
