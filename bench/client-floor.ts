/**
 * The least any CLI built on the Temporal TypeScript client pays per call: node starts, loads
 * `@temporalio/client` the way durabox's CLI does (ESM import), connects, makes one call, exits.
 * `node client-floor.js <address> <namespace>`; benches 1 and 2 time it beside their floors.
 */
import { Connection } from '@temporalio/client';

const [address, namespace] = process.argv.slice(2);
const connection = await Connection.connect({ address: address!, connectTimeout: '10s' });
await connection.workflowService.describeNamespace({ namespace: namespace! });
await connection.close();
