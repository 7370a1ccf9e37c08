/** Quoting for the three mini-languages we emit: POSIX sh, rsync's `-e` splitter, ssh `%` tokens. */
import { ProviderError } from '../errors.js';

const PLAIN = /^[A-Za-z0-9_\/.,:=@+-]+$/;

/** POSIX single-quote style; plain words stay bare so printed commands remain readable. */
export function shellQuote(s: string): string {
  if (PLAIN.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function shellQuoteArgv(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/**
 * rsync splits `-e` on spaces and honours single and double quotes but not backslashes, so the
 * sh-style `'\''` trick does not work there.
 */
export function rsyncQuote(s: string): string {
  if (PLAIN.test(s)) return s;
  if (!s.includes("'")) return `'${s}'`;
  if (!s.includes('"')) return `"${s}"`;
  throw new ProviderError('invalid', `cannot pass ${JSON.stringify(s)} through rsync -e (both quote kinds)`, {
    provider: 'common',
    operation: 'rsyncQuote',
  });
}

/** ssh expands `%x` tokens in ProxyCommand, IdentityFile, ControlPath, UserKnownHostsFile. */
export function escapePercent(s: string): string {
  return s.replace(/%/g, '%%');
}
