/** The check every provider's work-root (and other box directory) setting goes through. */
import { posix } from 'node:path';

/**
 * Why `value` is not an acceptable directory for a lease to work in, or undefined: it must be
 * absolute, printable, free of `.`/`..` segments, and not a directory `isBroad` calls too broad
 * (syncing or pruning there could hit system files). `instead` names a better one.
 */
export function workRootProblem(value: string, isBroad: (normal: string) => boolean, instead: string): string | undefined {
  if (!value.startsWith('/')) return 'must be an absolute path';
  if (/[\x00-\x1f\x7f]/.test(value)) return 'contains control characters';
  if (value.split('/').some((s) => s === '..' || s === '.')) return 'may not contain "." or ".." segments';
  const normal = posix.normalize(value).replace(/\/+$/, '') || '/';
  if (isBroad(normal)) return `is a broad system directory (${normal}); use a dedicated ${instead}`;
  return undefined;
}
