/**
 * zod schemas for every Vast answer the adapter reads (vast-openapi-subset.yaml plus the shapes
 * the official CLI handles). Unknown fields are ignored; a field we rely on with the wrong type is
 * an `invalid` error naming the path, never a silent `undefined`.
 */
import { z } from 'zod';

const num = z.number();
const optNum = num.nullable().optional();
const optStr = z.string().nullable().optional();

export const UserSchema = z.object({ id: z.number().int() });
export type VastUser = z.infer<typeof UserSchema>;

export const OfferSchema = z.object({
  /** The ask id: `PUT /asks/{id}/` rents it. */
  id: z.number().int().positive(),
  machine_id: optNum,
  gpu_name: optStr,
  num_gpus: optNum,
  dph_total: num,
  min_bid: optNum,
  reliability2: optNum,
  reliability: optNum,
  rentable: z.boolean().nullable().optional(),
  rented: z.boolean().nullable().optional(),
  verified: z.boolean().nullable().optional(),
  direct_port_count: optNum,
});
export type VastOffer = z.infer<typeof OfferSchema>;

/** An array, or `{offers|bundles|data: [...]}`. */
export const OffersSchema = z
  .union([
    z.array(OfferSchema),
    z.object({ offers: z.array(OfferSchema) }),
    z.object({ bundles: z.array(OfferSchema) }),
    z.object({ data: z.array(OfferSchema) }),
  ])
  .transform((v) => (Array.isArray(v) ? v : 'offers' in v ? v.offers : 'bundles' in v ? v.bundles : v.data));

export const CreateInstanceSchema = z.object({
  success: z.boolean(),
  new_contract: z.number().int().positive(),
});

export const PortBindingSchema = z.object({ HostIp: z.string().optional(), HostPort: z.union([z.string(), z.number()]) });

export const InstanceSchema = z.object({
  id: z.number().int().positive(),
  actual_status: optStr,
  intended_status: optStr,
  cur_state: optStr,
  status_msg: optStr,
  label: optStr,
  ssh_host: optStr,
  ssh_port: optNum,
  public_ipaddr: optStr,
  /** `{"22/tcp": [{HostIp, HostPort}]}` on running instances; other shapes are ignored. */
  ports: z.unknown().optional(),
  dph_total: optNum,
  start_date: optNum,
  machine_id: optNum,
  gpu_name: optStr,
  num_gpus: optNum,
  is_bid: z.boolean().nullable().optional(),
});
export type VastInstance = z.infer<typeof InstanceSchema>;

/** `GET /instances/{id}/`: `{instances: {...}}`, or `instances: null` once it no longer exists. */
export const ShowInstanceSchema = z.object({ instances: InstanceSchema.nullable() });

export const ListInstancesV1Schema = z.object({
  instances: z.array(InstanceSchema),
  next_token: z.string().nullable().optional(),
});
export const ListInstancesV0Schema = z.object({ instances: z.array(InstanceSchema) });

export const SuccessSchema = z.object({ success: z.boolean().optional(), msg: z.string().optional() });

export const SshKeySchema = z.object({
  id: z.union([z.number().int(), z.string().regex(/^\d+$/)]).transform((v) => Number(v)),
  public_key: z.string().optional(),
  key: z.string().optional(),
  ssh_key: z.string().optional(),
});
export type VastSshKey = { id: number; publicKey: string };

/** `ssh_keys` is a JSON *string* holding an array (spec), or already an array (precedent). */
export const SshKeysSchema = z
  .object({ ssh_keys: z.union([z.string(), z.array(z.unknown())]) })
  .transform((v, ctx): VastSshKey[] => {
    let arr: unknown = v.ssh_keys;
    if (typeof arr === 'string') {
      try {
        arr = arr.trim() === '' ? [] : JSON.parse(arr);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'ssh_keys is not a JSON array' });
        return z.NEVER;
      }
    }
    const parsed = z.array(SshKeySchema).safeParse(arr);
    if (!parsed.success) {
      ctx.addIssue({ code: 'custom', message: `ssh_keys: ${parsed.error.issues[0]?.message ?? 'bad shape'}` });
      return z.NEVER;
    }
    return parsed.data.map((k) => ({ id: k.id, publicKey: k.public_key ?? k.key ?? k.ssh_key ?? '' }));
  });

/** Error bodies: usually `{success:false, error, msg}`, 429s `{detail}`, sometimes plain text. */
export const ErrorBodySchema = z.object({
  error: z.string().optional(),
  msg: z.string().optional(),
  detail: z.string().optional(),
});
