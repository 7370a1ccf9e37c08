/** Flags shared by commands that start a lease, and their mapping onto config keys. */
import type { Command } from 'commander';
import { parseDuration } from '../config/duration.js';
import type { Layer } from '../config/load.js';
import { ConfigError } from '../errors.js';

export interface LeaseConfigFlags {
  provider?: string;
  release?: string;
  ttl?: string;
  idle?: string;
  env?: string[];
  exclude?: string[];
  taskQueue?: string;
  sshHost?: string;
  sshPort?: string;
  sshUser?: string;
  sshKey?: string;
  agxGateway?: string;
  agxUser?: string;
  agxKey?: string;
  agxHostKey?: string;
  gpu?: string;
  gpuCount?: string;
  maxPrice?: string;
  vastImage?: string;
  vastDisk?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function addLeaseConfigOptions(cmd: Command): Command {
  return cmd
    .option('--provider <name>', 'provider for a new lease (default: local)')
    .option('--release <action>', 'what happens to the box at the end: stop, delete or keep')
    .option('--ttl <duration>', 'maximum lifetime of the lease (default 90m)')
    .option('--idle <duration>', 'release after this long without a run or touch (default 30m)')
    .option('--env <name>', 'forward this environment variable by name (repeatable; NAME* for a prefix)', collect)
    .option('--exclude <pattern>', 'do not sync paths matching this pattern (repeatable)', collect)
    .option('--task-queue <name>', 'Temporal task queue of the durabox workers (default durabox)')
    .option('--ssh-host <host>', 'ssh provider: host to use')
    .option('--ssh-port <port>', 'ssh provider: port')
    .option('--ssh-user <user>', 'ssh provider: login user')
    .option('--ssh-key <path>', 'ssh provider: private key on the worker')
    .option('--agx-gateway <host>', 'agx provider: workspace gateway hostname (default workspace.agx.so)')
    .option('--agx-user <user>', 'agx provider: vm user, the part before "+" in the gateway login')
    .option('--agx-key <path>', 'agx provider: your AGX-registered private key on the worker (default ~/.ssh/id_ed25519)')
    .option('--agx-host-key <key>', 'agx provider: pin the gateway host key ("type base64" or SHA256:fingerprint)')
    .option('--gpu <name>', 'vast provider: GPU model, e.g. RTX_4090')
    .option('--gpu-count <n>', 'vast provider: GPUs per instance (default 1)')
    .option('--max-price <usd>', 'vast provider: refuse offers above this many $/hour (default 1)')
    .option('--vast-image <image>', 'vast provider: docker image (default nvidia/cuda:12.8.1-cudnn-devel-ubuntu22.04)')
    .option('--vast-disk <gb>', 'vast provider: disk in GB (default 20)');
}

/** Flags as a config layer; zod validates the values in `loadConfig` like any other source. */
export function leaseConfigFlags(o: LeaseConfigFlags): Layer {
  const ssh: Layer = {};
  if (o.sshHost !== undefined) ssh.host = o.sshHost;
  if (o.sshPort !== undefined) ssh.port = /^\d+$/.test(o.sshPort) ? Number(o.sshPort) : o.sshPort;
  if (o.sshUser !== undefined) ssh.user = o.sshUser;
  if (o.sshKey !== undefined) ssh.keyPath = o.sshKey;
  const agx: Layer = {};
  if (o.agxGateway !== undefined) agx.gateway = o.agxGateway;
  if (o.agxUser !== undefined) agx.user = o.agxUser;
  if (o.agxKey !== undefined) agx.keyPath = o.agxKey;
  if (o.agxHostKey !== undefined) agx.hostKey = o.agxHostKey;
  const num = (v: string) => (/^\d+(\.\d+)?$/.test(v) ? Number(v) : v);
  const vast: Layer = {};
  if (o.gpu !== undefined) vast.gpuName = o.gpu;
  if (o.gpuCount !== undefined) vast.gpuCount = num(o.gpuCount);
  if (o.maxPrice !== undefined) vast.maxPrice = num(o.maxPrice);
  if (o.vastImage !== undefined) vast.image = o.vastImage;
  if (o.vastDisk !== undefined) vast.diskGB = num(o.vastDisk);
  return {
    provider: o.provider,
    release: o.release,
    ttl: o.ttl,
    idle: o.idle,
    excludes: o.exclude,
    taskQueue: o.taskQueue,
    ssh: Object.keys(ssh).length ? ssh : undefined,
    agx: Object.keys(agx).length ? agx : undefined,
    vast: Object.keys(vast).length ? vast : undefined,
  };
}

export function durationFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (!ms) throw new ConfigError(`${flag} ${JSON.stringify(value)}: not a duration (use e.g. 45s, 20m, 1h30m)`);
  return ms;
}
