/**
 * The workflow bundle, built once per test process from the compiled workflows (`npm test` builds
 * first). Bundling costs ~0.8 s and ~200 MB, so every Worker in a file shares this one.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

export const WORKFLOWS_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'workflows', 'index.js');

let cached: Promise<WorkflowBundleWithSourceMap> | undefined;

export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  if (!cached) {
    if (!existsSync(WORKFLOWS_PATH)) {
      return Promise.reject(new Error(`${WORKFLOWS_PATH} is missing; run \`npm run build\` first`));
    }
    cached = bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
    // A failed bundle should not poison later callers with the same rejection forever.
    cached.catch(() => (cached = undefined));
  }
  return cached;
}
