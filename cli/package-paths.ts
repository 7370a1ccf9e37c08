/**
 * Files of the built package, found from the package root rather than from this module's own
 * place: the CLI ships as a bundle (dist/cli/main.js and its chunks), so a module's compiled file
 * is not at a fixed depth under dist/. Run from TypeScript sources (vitest), the root is the same
 * checkout and the files are its build.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The nearest directory at or above `from` that holds a package.json (dist/ holds none). */
export function packageRootOf(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** `dist/<rel>` of this package: `distFile('cli/main.js')`, `distFile('workflow-bundle.js')`. */
export function distFile(rel: string): string {
  root ??= packageRootOf(dirname(fileURLToPath(import.meta.url)));
  return join(root, 'dist', rel);
}
