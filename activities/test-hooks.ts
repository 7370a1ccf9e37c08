/**
 * Crash points for the crash tests, inert unless `DURABOX_TEST_HOLD_DIR` is set in the worker's
 * environment. At a named point the activity writes `<dir>/<point>.reached` and then waits until
 * `<dir>/<point>.go` exists, so a test can SIGKILL the worker at exactly that point. Heartbeats
 * continue while held, like a slow provider call would.
 */
import { Context } from '@temporalio/activity';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type HoldPoint = 'after-create' | 'wait-ready' | 'sync' | 'release';

export async function holdPoint(point: HoldPoint): Promise<void> {
  const dir = process.env.DURABOX_TEST_HOLD_DIR;
  if (!dir) return;
  const go = join(dir, `${point}.go`);
  if (existsSync(go)) return;
  writeFileSync(join(dir, `${point}.reached`), `${process.pid}\n`);
  while (!existsSync(go)) {
    try {
      Context.current().heartbeat();
    } catch {
      // not inside an activity (unit use): just wait
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
