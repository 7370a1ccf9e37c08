// After tsc: make the CLI executable and prebuild the workflow bundle, so a worker starts without
// bundling (about 0.8 s and 200 MB saved on every worker start).
import { chmodSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

const dist = (p) => fileURLToPath(new URL(`../dist/${p}`, import.meta.url));
chmodSync(dist('cli/main.js'), 0o755);
const { code } = await bundleWorkflowCode({ workflowsPath: dist('workflows/index.js'), logger: new DefaultLogger('WARN') });
writeFileSync(dist('workflow-bundle.js'), code);
