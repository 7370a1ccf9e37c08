/**
 * What `durabox run` needs of a lease's workflow, whichever way it reaches the server: the gRPC
 * client (`lease-channel-grpc.ts`: new leases, resumes, clusters with TLS) or the HTTP API
 * (`lease-channel-http.ts`: a run on a lease that is up). Nothing here loads the SDK.
 */
import type { ClientAccess, ClientAccessRequest, LeaseStatus, RunRequest, RunResult } from '../workflows/messages.js';

export interface LeaseChannel {
  readonly leaseId: string;
  readonly workflowId: string;
  /** How the messages travel (for traces and tests). */
  readonly via: 'grpc' | 'http';
  /**
   * The run update under id `runId`, waited for through RPC timeouts and long-poll ends (the same
   * id again never starts a second run). The first call on a new lease also starts it.
   */
  run(req: RunRequest, runId: string): Promise<RunResult>;
  /** The lease's status query, given up when `signal` fires. */
  status(signal: AbortSignal): Promise<LeaseStatus>;
  /** Ask the lease to stop one run (Ctrl-C). */
  cancelRun(runId: string): Promise<void>;
  /** Let this machine's key in (the lease's worker is elsewhere). */
  clientAccess(req: ClientAccessRequest): Promise<ClientAccess>;
}
