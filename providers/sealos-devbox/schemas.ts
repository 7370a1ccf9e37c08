/**
 * Zod schemas for the Kubernetes answers the adapter reads (the Devbox CRD devbox.sealos.io/v1alpha2,
 * core/v1 Secret and Event, meta/v1 Status, authorization/v1 SelfSubjectRulesReview). Only the
 * fields we use; a surprise becomes a ProviderError of kind `invalid` (kube.ts).
 */
import { z } from 'zod';

const OwnerReferenceSchema = z.object({
  apiVersion: z.string(),
  kind: z.string(),
  name: z.string(),
  uid: z.string(),
  controller: z.boolean().optional().nullable(),
});

const MetaSchema = z.object({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string(),
  resourceVersion: z.string(),
  labels: z.record(z.string(), z.string()).optional().nullable(),
  annotations: z.record(z.string(), z.string()).optional().nullable(),
  creationTimestamp: z.union([z.string(), z.date()]).optional().nullable(),
  deletionTimestamp: z.union([z.string(), z.date()]).optional().nullable(),
  finalizers: z.array(z.string()).optional().nullable(),
  ownerReferences: z.array(OwnerReferenceSchema).optional().nullable(),
});

const PortSchema = z.object({ name: z.string().optional(), containerPort: z.number().int(), protocol: z.string().optional() });

export const DevboxSchema = z.object({
  apiVersion: z.string(),
  kind: z.literal('Devbox'),
  metadata: MetaSchema,
  spec: z.object({
    state: z.string(),
    image: z.string(),
    network: z.object({ type: z.string(), extraPorts: z.array(PortSchema).optional().nullable() }),
    config: z.object({ user: z.string().optional(), workingDir: z.string().optional(), ports: z.array(PortSchema).optional().nullable() }).passthrough(),
  }).passthrough(),
  status: z
    .object({
      phase: z.string().optional(),
      state: z.string().optional(),
      network: z.object({ type: z.string().optional(), nodePort: z.number().int().optional().nullable(), uniqueID: z.string().optional() }).optional().nullable(),
      node: z.string().optional(),
      contentID: z.string().optional(),
      conditions: z.array(z.object({ type: z.string(), status: z.string(), reason: z.string().optional(), message: z.string().optional() })).optional().nullable(),
    })
    .optional()
    .nullable(),
});
export type Devbox = z.infer<typeof DevboxSchema>;

export const DevboxListSchema = z.object({
  items: z.array(DevboxSchema),
  metadata: z.object({ continue: z.string().optional().nullable() }).optional(),
});

/** meta/v1 Status: the error body of every failed call. */
export const StatusSchema = z.object({
  kind: z.literal('Status').optional(),
  status: z.string().optional(),
  message: z.string().optional(),
  reason: z.string().optional(),
  code: z.number().optional(),
  details: z.object({ causes: z.array(z.object({ message: z.string().optional(), field: z.string().optional() })).optional().nullable() }).passthrough().optional().nullable(),
});
export type KubeStatus = z.infer<typeof StatusSchema>;

export const SecretSchema = z.object({
  metadata: MetaSchema,
  data: z.record(z.string(), z.string()).optional().nullable(),
});
export type KubeSecret = z.infer<typeof SecretSchema>;

export const EventListSchema = z.object({
  items: z.array(z.object({ reason: z.string().optional().nullable(), message: z.string().optional().nullable(), type: z.string().optional().nullable() })),
});

export const ApiResourceListSchema = z.object({
  groupVersion: z.string(),
  resources: z.array(z.object({ name: z.string(), namespaced: z.boolean(), kind: z.string(), verbs: z.array(z.string()) })),
});

export const RulesReviewSchema = z.object({
  status: z.object({
    resourceRules: z.array(
      z.object({ verbs: z.array(z.string()), apiGroups: z.array(z.string()).optional().nullable(), resources: z.array(z.string()).optional().nullable(), resourceNames: z.array(z.string()).optional().nullable() }),
    ),
    incomplete: z.boolean(),
    evaluationError: z.string().optional().nullable(),
  }),
});
