/** Settings checks that name the setting and its value in the issue, for zod's `superRefine`. */
import type { z } from 'zod';

/** A refinement from a check returning the problem (or undefined): "<what> <value> <problem>". */
export const refineWith =
  (problem: (v: string) => string | undefined, what: string) =>
  (v: string, ctx: z.RefinementCtx): void => {
    const p = problem(v);
    if (p) ctx.addIssue({ code: 'custom', message: `${what} ${JSON.stringify(v)} ${p}` });
  };
