/**
 * The environment handed to every child process (ssh, rsync, git, sshd). Provider credentials live
 * in the worker's environment; they must never reach a box or a helper that does not need them.
 */

/** Names that look like credentials. Broad on purpose: a stripped harmless variable costs nothing. */
export const CREDENTIAL_NAME = /TOKEN|SECRET|API_KEY|PASSWORD|SESSION/i;

/** `base` minus credential-looking variables, plus `extra` (which may re-add a selected one). */
export function childEnv(
  extra: Record<string, string | undefined> = {},
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) {
    if (value !== undefined && !CREDENTIAL_NAME.test(name)) env[name] = value;
  }
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}
