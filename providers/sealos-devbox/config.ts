/**
 * Settings of the `sealos-devbox` provider: a Sealos `Devbox` custom resource on Kubernetes
 * (providers.md 2.4). Validated by zod when the adapter is built; every message is one line.
 *
 * Credentials are not settings: they stay in the user's kubeconfig (KUBECONFIG or ~/.kube/config,
 * or `kubeconfig` here), read by @kubernetes/client-node inside the activity. Which cluster,
 * context, namespace, image and SSH route are used decides where those credentials and the code go,
 * so a repository's durabox.yaml may set none of them (sealosTrustedOnlyKeys).
 */
import { z } from 'zod';
import { onFirstUse } from '../common/on-first-use.js';
import { workRootProblem as checkWorkRoot } from '../common/work-root.js';
import { refineWith } from '../common/refine.js';

/** Kubernetes resource quantity (the CRD's `spec.resource` pattern). */
const QUANTITY = /^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|[0-9a-fA-F:]{2,39})$/;
const HOST_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}$/;

const BROAD = new Set(['/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/opt', '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/var']);

const absDir = (name: string) => z.string().superRefine(refineWith((v) => checkWorkRoot(v, (n) => BROAD.has(n), 'one'), name));

export const sealosConfigSchema = onFirstUse(() =>
  z
    .object({
      /** Path of the kubeconfig file; default: KUBECONFIG, else ~/.kube/config. Trusted only. */
      kubeconfig: z.string().min(1).optional(),
      /** kubeconfig context; default: the file's current-context. Trusted only. */
      context: z.string().regex(/^[^\s\x00-\x1f]{1,253}$/, 'context: a kubeconfig context name').optional(),
      /** Namespace; default: the context's namespace, else `default`. Trusted only. */
      namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'namespace: a DNS-1123 label').optional(),
      /** DevBox image (required to create). Trusted only. */
      image: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._\/:@-]{0,254}$/, 'image: a container image reference').optional(),
      /** Sealos template id (`spec.templateID`). Trusted only. */
      templateId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'templateId: letters, digits, ".", "_" and "-"').optional(),
      cpu: z.string().regex(QUANTITY, 'cpu: a Kubernetes quantity such as 2 or 500m').default('2'),
      memory: z.string().regex(QUANTITY, 'memory: a Kubernetes quantity such as 4Gi').default('4Gi'),
      storage: z.string().regex(QUANTITY, 'storage: a Kubernetes quantity such as 20Gi').default('20Gi'),
      /** How SSH reaches the DevBox. Trusted only. */
      network: z.enum(['SSHGate', 'NodePort']).default('SSHGate'),
      /** Sealos SSH gateway host and port (SSHGate). Trusted only. */
      gatewayHost: z.string().regex(HOST, 'gatewayHost: a host name or IP address').optional(),
      gatewayPort: z.number().int().min(1).max(65535).default(2222),
      /** The gateway's host key (`type base64`), pinned per gateway, not per lease. Trusted only. */
      gatewayHostKey: z.string().regex(HOST_KEY, 'gatewayHostKey: "ssh-ed25519 AAAA…" (type and base64, no host)').optional(),
      /** A node address for NodePort. Trusted only. */
      nodeHost: z.string().regex(HOST, 'nodeHost: a host name or IP address').optional(),
      /** `spec.config.user`, the SSH login. */
      sshUser: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'sshUser: a plain login name').default('devbox'),
      /** `spec.config.workingDir`. */
      workingDir: absDir('workingDir').default('/home/devbox/project'),
      /** Directory on the box that holds `<leaseId>/<repo>`. Trusted only. */
      workRoot: absDir('workRoot').default('/home/devbox/durabox'),
      /** This provider's default release action (rollback uses it too). */
      releaseAction: z.enum(['stop', 'delete', 'keep']).default('stop'),
      /** What `stop` sets `spec.state` to: Paused keeps the volume; Stopped commits and frees it. */
      stopState: z.enum(['Paused', 'Stopped']).default('Paused'),
      /** Limit for the observed status to report Running (and, for NodePort, an SSH node port). */
      readyTimeoutMs: z.number().int().positive().default(10 * 60_000),
      /** Limit for the NodePort to be published once the DevBox runs. */
      nodePortTimeoutMs: z.number().int().positive().default(2 * 60_000),
      /** Limit for the SSH probe once the DevBox runs. */
      sshTimeoutMs: z.number().int().positive().default(5 * 60_000),
      pollIntervalMs: z.number().int().min(10).default(3_000),
      /** After an ambiguous create, look for the DevBox this long before giving up. */
      createGraceMs: z.number().int().min(0).default(20_000),
      requestTimeoutMs: z.number().int().positive().default(30_000),
    })
    .strict(),
);

export type SealosConfig = z.infer<ReturnType<typeof sealosConfigSchema>>;

/** Cluster, route and image: where credentials and code go. Repository config may set none. */
export const sealosTrustedOnlyKeys = [
  'kubeconfig',
  'context',
  'namespace',
  'image',
  'templateId',
  'network',
  'gatewayHost',
  'gatewayPort',
  'gatewayHostKey',
  'nodeHost',
  'workRoot',
] as const;
