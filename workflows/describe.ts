/** Short human texts for summaries and details; deterministic helpers safe in the workflow sandbox. */

const MAX_COMMAND_TEXT = 80;

/** "run `npm test`", shortened so it fits a one-line activity summary. */
export function describeRun(argv: string[]): string {
  const text = argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
  return `run \`${text.length > MAX_COMMAND_TEXT ? `${text.slice(0, MAX_COMMAND_TEXT - 1)}…` : text}\``;
}

/** The innermost useful message of a Temporal failure chain (ActivityFailure → ApplicationFailure). */
export function failureMessage(err: unknown): string {
  let e: unknown = err;
  let msg = err instanceof Error ? err.message : String(err);
  for (let i = 0; i < 5 && e instanceof Error && e.cause; i++) {
    e = e.cause;
    if (e instanceof Error && e.message) msg = e.message;
  }
  return msg;
}

/** The `type` of the innermost ApplicationFailure, which is what workflows branch on. */
export function failureType(err: unknown): string | undefined {
  let e: unknown = err;
  let type: string | undefined;
  for (let i = 0; i < 6 && e; i++) {
    if (typeof e === 'object' && e !== null && 'type' in e && typeof (e as { type: unknown }).type === 'string') {
      type = (e as { type: string }).type;
    }
    e = e instanceof Error ? e.cause : undefined;
  }
  return type;
}
