/**
 * gitignore-like exclude rules for the sync manifest: ordered, last match wins, `!` re-includes,
 * a trailing `/` matches directories only, a pattern with an inner `/` is anchored at the root,
 * `*` stays inside one segment and `**` crosses segments. A rule that matches a directory excludes
 * everything under it (unlike git, a later `!rule` can still re-include a file inside it).
 */

/** Build/artifact directories never worth shipping. They never drop *tracked* files. */
export const BUILTIN_EXCLUDES = [
  'node_modules', '.git', 'dist', 'coverage', '.next', '.vite', '.turbo', 'target', '.venv', '__pycache__', '.gradle', '.cache',
] as const;

/** durabox's own state: always excluded, cannot be re-included. */
export const FORCED_EXCLUDES = ['.durabox'] as const;

export interface IgnoreRule {
  source: string;
  negate: boolean;
  dirOnly: boolean;
  anchored: boolean;
  re: RegExp;
  /** Built-in rules apply to untracked paths only. */
  untrackedOnly: boolean;
}

export function parseRule(line: string, untrackedOnly = false): IgnoreRule | undefined {
  let p = line.replace(/\r$/, '');
  if (!p.trim() || p.startsWith('#')) return undefined;
  p = p.replace(/(?<!\\)\s+$/, '');
  const negate = p.startsWith('!');
  if (negate) p = p.slice(1);
  if (p.startsWith('\\')) p = p.slice(1); // `\!x`, `\#x` are literal
  const dirOnly = p.endsWith('/');
  if (dirOnly) p = p.replace(/\/+$/, '');
  const anchored = p.includes('/');
  p = p.replace(/^\/+/, '');
  if (!p) return undefined;
  return { source: line, negate, dirOnly, anchored, re: new RegExp(`^${globToRegex(p)}$`), untrackedOnly };
}

export function parseRules(text: string, untrackedOnly = false): IgnoreRule[] {
  return text.split('\n').map((l) => parseRule(l, untrackedOnly)).filter((r): r is IgnoreRule => !!r);
}

export function builtinRules(): IgnoreRule[] {
  return BUILTIN_EXCLUDES.map((n) => parseRule(`${n}/`, true)!);
}

function globToRegex(glob: string): string {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const slashAfter = glob[i + 2] === '/';
        const atSegStart = i === 0 || glob[i - 1] === '/';
        if (atSegStart && slashAfter) {
          re += '(?:.*/)?';
          i += 2;
        } else {
          re += '.*';
          i += 1;
        }
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let cls = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
        re += `[${cls}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < glob.length) {
      re += escapeRe(glob[++i]!);
    } else re += escapeRe(c);
  }
  return re;
}

function escapeRe(c: string): string {
  return /[.+^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

function ruleMatches(rule: IgnoreRule, path: string, isDir: boolean): boolean {
  if (rule.dirOnly && !isDir) return false;
  const subject = rule.anchored ? path : path.slice(path.lastIndexOf('/') + 1);
  return rule.re.test(subject);
}

/** True when `path` (a file, `/`-separated, relative to the root) is excluded. */
export function isExcluded(rules: readonly IgnoreRule[], path: string, tracked: boolean): boolean {
  const segs = path.split('/');
  if (segs.some((s) => (FORCED_EXCLUDES as readonly string[]).includes(s))) return true;
  // Candidates: every ancestor directory, then the file itself.
  const candidates: Array<[string, boolean]> = [];
  for (let i = 1; i < segs.length; i++) candidates.push([segs.slice(0, i).join('/'), true]);
  candidates.push([path, false]);
  let excluded = false;
  for (const rule of rules) {
    if (rule.untrackedOnly && tracked) continue;
    if (candidates.some(([p, d]) => ruleMatches(rule, p, d))) excluded = !rule.negate;
  }
  return excluded;
}

/** For tree walks: a directory can be skipped outright when it is excluded and nothing re-includes. */
export function canPruneDir(rules: readonly IgnoreRule[], dirPath: string): boolean {
  if (rules.some((r) => r.negate)) return (FORCED_EXCLUDES as readonly string[]).includes(dirPath.split('/').pop()!);
  return rules.some((r) => ruleMatchesDirChain(r, dirPath)); // without negations any match is final
}

function ruleMatchesDirChain(rule: IgnoreRule, dirPath: string): boolean {
  const segs = dirPath.split('/');
  for (let i = 1; i <= segs.length; i++) if (ruleMatches(rule, segs.slice(0, i).join('/'), true)) return true;
  return false;
}
