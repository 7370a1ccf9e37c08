/**
 * A lease for `durabox run` over the gRPC client: a new lease (started by its first run's
 * update-with-start), a stopped lease resumed the same way, or a running one. Loaded only when a
 * command takes this path, because the SDK is most of a short command's start-up.
 */
import type { Client } from '@temporalio/client';
import type { leaseWorkflow } from '../workflows/lease.js';
import { cancelRunSignal, clientAccessUpdate, leaseWorkflowId, type RunRequest, type RunResult } from '../workflows/messages.js';
import type { LoadedConfig } from './config/load.js';
import type { LeaseChannel } from './lease-channel.js';
import { queryStatus, resolveLease, withStartLease } from './lease-client.js';
import { newLeaseInput } from './lease-input.js';
import { resumeOperation } from './lease-resume.js';
import type { Output } from './output.js';
import type { RepoContext } from './repo-context.js';
import { runUpdateOutcome, sendRunUpdate, type RunUpdateTarget } from './temporal/run-update.js';

export interface GrpcLeaseRequest {
  /** An existing lease (id or slug); absent for a new one. */
  id?: string;
  slug?: string;
  keep?: boolean;
  loaded: LoadedConfig;
  repo: RepoContext;
  out: Output;
  /** True once the user interrupted: a run the server never admitted is then not sent again. */
  interrupted: () => boolean;
}

type StartOperation = RunUpdateTarget['startOperation'];

export async function grpcLeaseChannel(client: Client, r: GrpcLeaseRequest): Promise<LeaseChannel> {
  let workflowId: string;
  let leaseId: string;
  // The first run of a new or resumed lease starts its workflow; later runs only update it.
  let startOperation: StartOperation;
  // The run a running lease's update goes to: after an RPC timeout its outcome is asked of that run
  // (update ids are unique per run, and the lease may continue as new after the update completes).
  let workflowRunId: string | undefined;
  if (r.id) {
    const handle = await resolveLease(client, r.id);
    workflowId = handle.workflowId;
    leaseId = workflowId.replace(/^lease-/, '');
    const resume = await resumeOperation(client, handle, r.loaded.config.taskQueue);
    startOperation = resume.start;
    workflowRunId = resume.runId;
    r.out.step(startOperation ? `resuming lease ${r.id}: starting its stopped box again` : `running on lease ${r.id}`);
  } else {
    const input = await newLeaseInput(client, r.loaded, r.repo, { slug: r.slug, releaseAfterRun: !r.keep });
    r.out.step(`lease ${input.slug} (${input.leaseId}) on ${input.provider}; release: ${input.releaseAction ?? 'provider default'}`);
    workflowId = leaseWorkflowId(input.leaseId);
    leaseId = input.leaseId;
    startOperation = () => withStartLease(input, r.loaded.config.taskQueue);
  }
  // Addressed by id, so status can be queried while the box is still being acquired.
  const handle = client.workflow.getHandle<typeof leaseWorkflow>(workflowId);
  return {
    leaseId,
    workflowId,
    via: 'grpc',
    run(req: RunRequest, runId: string): Promise<RunResult> {
      const t: RunUpdateTarget = { client, workflowId, workflowRunId: startOperation ? undefined : workflowRunId, updateId: runId, req, startOperation, interrupted: r.interrupted };
      startOperation = undefined;
      return runUpdateOutcome(t, sendRunUpdate(t));
    },
    status: (signal) => queryStatus(handle, signal),
    cancelRun: (runId) => handle.signal(cancelRunSignal, { runId }),
    clientAccess: (req) => handle.executeUpdate(clientAccessUpdate, { args: [req] }),
  };
}
