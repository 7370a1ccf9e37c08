/**
 * The Temporal client a worker hands its activities (the cleanup sweep looks leases up with it).
 * Connected on first use with the worker's own cluster settings, closed with the worker.
 */
import { Client, Connection } from '@temporalio/client';
import { connectionOptions, type ClusterSettings } from './connect.js';

export function lazyActivityClient(cluster: ClusterSettings): { get: () => Promise<Client>; close: () => Promise<void> } {
  let client: Promise<Client> | undefined;
  return {
    get: () => {
      client ??= Connection.connect(connectionOptions(cluster)).then((connection) => new Client({ connection, namespace: cluster.namespace }));
      // A failed connect is retried on the next call instead of being remembered.
      client.catch(() => (client = undefined));
      return client;
    },
    close: async () => {
      const c = await client?.catch(() => undefined);
      await c?.connection.close().catch(() => undefined);
    },
  };
}
