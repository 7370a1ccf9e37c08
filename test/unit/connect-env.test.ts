/**
 * Where the CLI finds a cluster's HTTP API: only for a plain connection, so an API key or a client
 * certificate never travels over plain HTTP; and a malformed address is one clear line.
 */
import { describe, expect, it } from 'vitest';
import { clusterFromEnv } from '../../cli/temporal/connect.js';
import { CliError } from '../../cli/errors.js';

const base = { TEMPORAL_ADDRESS: 'temporal.example:7233', DURABOX_TEMPORAL_HTTP: 'http://temporal.example:7243' };

describe('clusterFromEnv: DURABOX_TEMPORAL_HTTP', () => {
  it('is used for a plain connection, with or without the scheme', () => {
    expect(clusterFromEnv(base)?.httpUrl).toBe('http://temporal.example:7243');
    expect(clusterFromEnv({ ...base, DURABOX_TEMPORAL_HTTP: 'temporal.example:7243' })?.httpUrl).toBe('http://temporal.example:7243');
    expect(clusterFromEnv({ ...base, DURABOX_TEMPORAL_HTTP: 'http://temporal.example' })?.httpUrl).toBe('http://temporal.example:80');
    expect(clusterFromEnv({ ...base, DURABOX_TEMPORAL_HTTP: '[::1]:7243' })?.httpUrl).toBe('http://[::1]:7243');
  });

  it('is ignored with an API key or TLS: the gRPC client carries those', () => {
    expect(clusterFromEnv({ ...base, TEMPORAL_API_KEY: 'k-123' })?.httpUrl).toBeUndefined();
    expect(clusterFromEnv({ ...base, TEMPORAL_TLS: 'true' })?.httpUrl).toBeUndefined();
  });

  it('is absent when not set, and refused when it is not http://host:port', () => {
    expect(clusterFromEnv({ TEMPORAL_ADDRESS: base.TEMPORAL_ADDRESS })?.httpUrl).toBeUndefined();
    for (const bad of ['https://temporal.example:7243', 'http://user:s3cret@temporal.example:7243', 'http://temporal.example:7243/api', 'http://[bad']) {
      expect(() => clusterFromEnv({ ...base, DURABOX_TEMPORAL_HTTP: bad }), bad).toThrow(CliError);
      try {
        clusterFromEnv({ ...base, DURABOX_TEMPORAL_HTTP: bad });
      } catch (err) {
        expect((err as Error).message).not.toContain('s3cret');
      }
    }
  });
});
