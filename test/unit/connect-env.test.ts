/**
 * Where the CLI finds a cluster's HTTP API: only for a plain connection, so an API key or a client
 * certificate never travels over plain HTTP; and a malformed address is one clear line.
 */
import { describe, expect, it } from 'vitest';
import { clusterFromEnv, clusterHttpUrl } from '../../cli/temporal/connect.js';
import { CliError } from '../../cli/errors.js';

const base = { TEMPORAL_ADDRESS: 'temporal.example:7233', DURABOX_TEMPORAL_HTTP: 'http://temporal.example:7243' };
const httpOf = (env: NodeJS.ProcessEnv) => clusterHttpUrl(clusterFromEnv(env)!, env);

describe('clusterFromEnv: DURABOX_TEMPORAL_HTTP', () => {
  it('is used for a plain connection, with or without the scheme', () => {
    expect(httpOf(base)).toBe('http://temporal.example:7243');
    expect(httpOf({ ...base, DURABOX_TEMPORAL_HTTP: 'temporal.example:7243' })).toBe('http://temporal.example:7243');
    expect(httpOf({ ...base, DURABOX_TEMPORAL_HTTP: 'http://temporal.example' })).toBe('http://temporal.example:80');
    expect(httpOf({ ...base, DURABOX_TEMPORAL_HTTP: '[::1]:7243' })).toBe('http://[::1]:7243');
  });

  it('is ignored with an API key or TLS: the gRPC client carries those', () => {
    expect(httpOf({ ...base, TEMPORAL_API_KEY: 'k-123' })).toBeUndefined();
    expect(httpOf({ ...base, TEMPORAL_TLS: 'true' })).toBeUndefined();
  });

  it('is not read by clusterFromEnv, which workers use: a bad value does not stop a worker', () => {
    expect(clusterFromEnv({ ...base, DURABOX_TEMPORAL_HTTP: 'https://x' })?.address).toBe(base.TEMPORAL_ADDRESS);
  });

  it('is absent when not set, and refused when it is not http://host:port', () => {
    expect(httpOf({ TEMPORAL_ADDRESS: base.TEMPORAL_ADDRESS })).toBeUndefined();
    for (const bad of ['https://temporal.example:7243', 'http://user:s3cret@temporal.example:7243', 'http://temporal.example:7243/api', 'http://temporal.example:7243?x=1', 'http://[bad']) {
      expect(() => httpOf({ ...base, DURABOX_TEMPORAL_HTTP: bad }), bad).toThrow(CliError);
      try {
        httpOf({ ...base, DURABOX_TEMPORAL_HTTP: bad });
      } catch (err) {
        expect((err as Error).message).not.toContain('s3cret');
      }
    }
  });
});
