/** The command tree loads only the named command's module, and every command for help or a typo. */
import { describe, expect, it } from 'vitest';
import { makeProgram } from '../../cli/program.js';

const names = async (argv?: string[]) => (await makeProgram({ exitOverride: true, argv })).commands.map((c) => c.name());

describe('makeProgram', () => {
  it('registers just the command the arguments name, after the program flags', async () => {
    expect(await names(['run', '--', 'npm', 'test'])).toEqual(['run']);
    expect(await names(['--json', '-q', 'status', 'dbx_0123456789ab'])).toEqual(['status']);
    expect(await names(['attach', 'lease'])).toEqual(['attach']);
  });

  it('registers every command for help, no command, or an unknown one', async () => {
    const all = ['run', 'warmup', 'status', 'list', 'stop', 'ssh', 'doctor', 'server', 'worker', 'logs', 'attach', 'cleanup', 'history'];
    expect(await names(['--help'])).toEqual(all);
    expect(await names([])).toEqual(all);
    expect(await names(['bogus'])).toEqual(all);
    expect(await names(['help', 'run'])).toEqual(all);
    expect(await names(['--help', 'run'])).toEqual(all);
    expect(await names(['-q', '-h', 'status'])).toEqual(all);
    expect(await names()).toEqual(all);
  });
});
