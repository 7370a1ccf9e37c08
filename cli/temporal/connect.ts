/**
 * Where the CLI finds Temporal. With `TEMPORAL_ADDRESS` set it is only a client of that cluster
 * (TLS and API key from Temporal's own environment variables). Without it, the embedded default:
 * a background dev server and a background worker on this machine, started once and reused.
 *
 * The gRPC client is imported only when a command connects: loading it costs more than the rest
 * of a `run --id`, which can go over the HTTP API instead (`temporalTarget().httpUrl`).
 */
import { readFileSync } from 'node:fs';
import type { Client, Connection, ConnectionOptions, TLSConfig } from '@temporalio/client';
import { CliError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { trace } from '../trace.js';

export interface ClusterSettings {
  address: string;
  namespace: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
  /**
   * The frontend's HTTP API (`DURABOX_TEMPORAL_HTTP`, `http://host:port`). Only for a plain
   * connection: with TLS or an API key the CLI stays on gRPC, so a key never crosses plain HTTP.
   */
  httpUrl?: string;
}

/** Temporal's conventional variables: TEMPORAL_ADDRESS, _NAMESPACE, _API_KEY, _TLS*, _TLS_*_PATH. */
export function clusterFromEnv(env: NodeJS.ProcessEnv = process.env): ClusterSettings | undefined {
  if (!env.TEMPORAL_ADDRESS) return undefined;
  const certPath = env.TEMPORAL_TLS_CLIENT_CERT_PATH;
  const keyPath = env.TEMPORAL_TLS_CLIENT_KEY_PATH;
  const caPath = env.TEMPORAL_TLS_SERVER_CA_CERT_PATH;
  const serverName = env.TEMPORAL_TLS_SERVER_NAME;
  const tlsWanted = ['1', 'true'].includes((env.TEMPORAL_TLS ?? '').toLowerCase()) || !!(certPath || caPath || env.TEMPORAL_API_KEY);
  let tls: TLSConfig | boolean | undefined;
  if (tlsWanted) {
    tls = {
      serverNameOverride: serverName || undefined,
      serverRootCACertificate: caPath ? readFileSync(caPath) : undefined,
      clientCertPair: certPath && keyPath ? { crt: readFileSync(certPath), key: readFileSync(keyPath) } : undefined,
    };
  }
  if (['0', 'false'].includes((env.TEMPORAL_TLS ?? '').toLowerCase())) tls = undefined;
  return { address: env.TEMPORAL_ADDRESS, namespace: env.TEMPORAL_NAMESPACE || 'default', tls, apiKey: env.TEMPORAL_API_KEY || undefined };
}

/**
 * The cluster's HTTP API for the CLI (`DURABOX_TEMPORAL_HTTP`), only for a plain connection. Read
 * here and not in clusterFromEnv: workers never use it, and must not fail on it.
 */
export function clusterHttpUrl(cluster: ClusterSettings, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return !cluster.tls && !cluster.apiKey ? plainHttpUrl(env.DURABOX_TEMPORAL_HTTP) : undefined;
}

function plainHttpUrl(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  const usage = 'DURABOX_TEMPORAL_HTTP: give http://host:port (plain HTTP, no credentials)';
  let url: URL;
  try {
    url = new URL(raw.includes('://') ? raw : `http://${raw}`);
  } catch {
    throw new CliError(`${usage}; the value is not a URL`, ExitCode.config);
  }
  // The value is not echoed: it could carry a password.
  const extra = url.username || url.password || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash;
  if (url.protocol !== 'http:' || extra) throw new CliError(usage, ExitCode.config);
  return `http://${url.hostname}:${url.port || 80}`;
}

export function connectionOptions(c: ClusterSettings): ConnectionOptions {
  return { address: c.address, tls: c.tls, apiKey: c.apiKey, connectTimeout: '10s' };
}

export interface Connected {
  client: Client;
  connection: Connection;
  namespace: string;
  embedded: boolean;
  uiUrl?: string;
}

/** Where Temporal is for this command, with the embedded server and worker up when they are ours. */
export interface TemporalTarget {
  cluster: ClusterSettings;
  embedded: boolean;
  uiUrl?: string;
}

const openConnections: Array<{ close(): Promise<void> | void }> = [];

/** Close every client connection this process opened, so the CLI can exit on its own. */
export async function closeConnections(): Promise<void> {
  await Promise.allSettled(openConnections.splice(0).map(async (c) => c.close()));
}

/** Close `c` with the others when the command ends (an HTTP API client's kept-alive sockets). */
export function closeAtExit(c: { close(): Promise<void> | void }): void {
  openConnections.push(c);
}

/** Connect as a client; in embedded mode make sure the server and the worker are up first. */
export async function connectTemporal(taskQueue: string, log: (line: string) => void): Promise<Connected> {
  return connectTo(await temporalTarget(taskQueue, log));
}

/** The cluster from the environment, or the embedded server and worker, started if need be. */
export async function temporalTarget(taskQueue: string, log: (line: string) => void): Promise<TemporalTarget> {
  let cluster = clusterFromEnv();
  if (cluster) cluster = { ...cluster, httpUrl: clusterHttpUrl(cluster) };
  let uiUrl: string | undefined;
  const embedded = !cluster;
  if (!cluster) {
    const { ensureDevServer, ensureBackgroundWorker } = await import('./dev-server.js');
    const server = await ensureDevServer({ log }).catch((err: Error) => {
      throw new CliError(`embedded Temporal server: ${err.message.split('\n')[0]}`, ExitCode.temporal);
    });
    trace('dev server answers');
    await ensureBackgroundWorker({ address: server.address, namespace: server.namespace, taskQueue, log }).catch((err: Error) => {
      throw new CliError(`background worker: ${err.message.split('\n')[0]}`, ExitCode.temporal);
    });
    trace('background worker up');
    cluster = { address: server.address, namespace: server.namespace, httpUrl: server.httpUrl };
    uiUrl = server.uiUrl;
  }
  return { cluster, embedded, uiUrl };
}

/** A gRPC client of the target (the SDK is loaded here, not before). */
export async function connectTo({ cluster, embedded, uiUrl }: TemporalTarget): Promise<Connected> {
  const { Client, Connection } = await import('@temporalio/client');
  try {
    const connection = await Connection.connect(connectionOptions(cluster));
    openConnections.push(connection);
    return { client: new Client({ connection, namespace: cluster.namespace }), connection, namespace: cluster.namespace, embedded, uiUrl };
  } catch (err) {
    throw new CliError(`cannot reach Temporal at ${cluster.address}: ${(err as Error).message.split('\n')[0]}`, ExitCode.temporal);
  }
}
