/**
 * Environment forwarding by name only. Values are put on the remote command line, where the box's
 * process list shows them, so names that look like credentials are never forwarded.
 */
import { CREDENTIAL_NAME } from '../providers/common/child-env.js';

const RESERVED = new Set(['DURABOX_LEASE_ID', 'DURABOX_RUN_ID']);

export function forwardedEnv(patterns: string[], env: NodeJS.ProcessEnv, warn: (m: string) => void): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pattern of patterns) {
    const prefix = pattern.endsWith('*') ? pattern.slice(0, -1) : undefined;
    for (const [name, value] of Object.entries(env)) {
      if (value === undefined) continue;
      if (prefix !== undefined ? !name.startsWith(prefix) : name !== pattern) continue;
      if (RESERVED.has(name)) continue;
      if (CREDENTIAL_NAME.test(name)) {
        warn(`not forwarding ${name}: it looks like a credential`);
        continue;
      }
      out[name] = value;
    }
  }
  return out;
}
