// After tsc:
// - bundle the CLI (dist/cli/entry.js and what it imports) into dist/cli/main.js and its chunks.
//   Node resolves, reads and links each ES module on its own; a short command loaded about 160 of
//   them (95 are zod's), a third of its run time. Every command's lazy import stays its own chunk.
// - prebuild the workflow bundle, so a worker starts without bundling (about 0.8 s and 200 MB
//   saved on every worker start).
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { rolldown } from 'rolldown';

const dist = (p) => fileURLToPath(new URL(`../dist/${p}`, import.meta.url));

// Pure-JS packages on every command's path go into the bundle. The rest stay in node_modules:
// the Temporal SDK (native core, loaded only by commands that need gRPC), ssh2, undici, yaml…
const INLINE = /^(zod|commander)(\/|$)/;
const isPackage = (id) => !id.startsWith('.') && !id.startsWith('/') && !id.startsWith('\0');

// tsc's source maps go in with its output, so the bundle's maps lead back to the .ts sources.
const distDir = dist('');
const withTscMaps = {
  name: 'tsc-source-maps',
  load(id) {
    if (!id.startsWith(distDir) || !id.endsWith('.js') || !existsSync(`${id}.map`)) return null;
    return { code: readFileSync(id, 'utf8'), map: readFileSync(`${id}.map`, 'utf8') };
  },
};

const cli = await rolldown({
  input: dist('cli/entry.js'),
  platform: 'node',
  external: (id) => id.startsWith('node:') || (isPackage(id) && !INLINE.test(id)),
  plugins: [withTscMaps],
  logLevel: 'warn',
});
const { output } = await cli.write({
  dir: dist('cli'),
  format: 'esm',
  entryFileNames: 'main.js',
  chunkFileNames: 'chunks/[name]-[hash].js',
  sourcemap: true,
});
await cli.close();
// Chunk names carry a content hash. A process of an earlier build (a long `durabox run`, a worker
// until the CLI replaces it) may still load its lazy chunks, so they stay; a week after they were
// written, chunks this build does not use are removed.
const current = new Set(output.map((o) => o.fileName.replace(/^chunks\//, '')));
const WEEK_MS = 7 * 24 * 3600 * 1000;
for (const f of readdirSync(dist('cli/chunks'))) {
  const name = f.replace(/\.map$/, '');
  const path = dist(`cli/chunks/${f}`);
  if (!current.has(name) && Date.now() - statSync(path).mtimeMs > WEEK_MS) rmSync(path, { force: true });
}
chmodSync(dist('cli/main.js'), 0o755);

const { code } = await bundleWorkflowCode({ workflowsPath: dist('workflows/index.js'), logger: new DefaultLogger('WARN') });
writeFileSync(dist('workflow-bundle.js'), code);
