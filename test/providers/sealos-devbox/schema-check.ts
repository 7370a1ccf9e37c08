/**
 * A small validator for the two published descriptions the fake Kubernetes API checks against
 * (copies of /work/shared/schemas/): the Sealos Devbox CRD's openAPIV3Schema, and the Kubernetes
 * swagger definitions subset (Secret, Event, Status, SelfSubjectRulesReview, ObjectMeta…).
 *
 * Supports what those use: $ref, type, enum, properties, required, items, additionalProperties,
 * anyOf, pattern, x-kubernetes-int-or-string and x-kubernetes-preserve-unknown-fields. Unknown
 * fields are violations (a typo in our manifest would otherwise be pruned silently by the server).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

type Schema = Record<string, any>;
const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

const CRD: Schema = parseYaml(readFileSync(here('./sealos-devbox.devbox.sealos.io_devboxes.yaml'), 'utf8'));
const SWAGGER: Schema = JSON.parse(readFileSync(here('./kubernetes-swagger-subset.json'), 'utf8'));
const DEVBOX_SCHEMA: Schema = CRD.spec.versions.find((v: Schema) => v.name === 'v1alpha2').schema.openAPIV3Schema;
export const CRD_SPEC = CRD.spec as Schema;

function resolve(s: Schema): Schema {
  if (!s?.$ref) return s;
  const name = (s.$ref as string).replace('#/definitions/', '');
  const d = SWAGGER.definitions[name];
  if (!d) throw new Error(`unknown $ref ${s.$ref}`);
  return d;
}

function typeOk(t: string, v: unknown): boolean {
  switch (t) {
    case 'object': return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'array': return Array.isArray(v);
    case 'string': return typeof v === 'string';
    case 'integer': return Number.isInteger(v);
    case 'number': return typeof v === 'number';
    case 'boolean': return typeof v === 'boolean';
    default: return true;
  }
}

export function validate(schema: Schema, value: unknown, path = '$', out: string[] = []): string[] {
  const s = resolve(schema);
  if (!s) return out;
  if (s['x-kubernetes-int-or-string']) {
    if (!(typeof value === 'string' || Number.isInteger(value))) out.push(`${path}: not int-or-string`);
    else if (typeof value === 'string' && s.pattern && !new RegExp(s.pattern).test(value)) out.push(`${path}: ${JSON.stringify(value)} does not match ${s.pattern}`);
    return out;
  }
  if (s.anyOf) {
    if (!s.anyOf.some((alt: Schema) => validate(alt, value, path).length === 0)) out.push(`${path}: matches no anyOf branch`);
    return out;
  }
  if (s.type && !typeOk(s.type, value)) {
    out.push(`${path}: expected ${s.type}, got ${value === null ? 'null' : typeof value}`);
    return out;
  }
  if (s.enum && !s.enum.includes(value)) out.push(`${path}: ${JSON.stringify(value)} not in ${JSON.stringify(s.enum)}`);
  if (typeof value === 'string' && s.pattern && !new RegExp(s.pattern).test(value)) out.push(`${path}: ${JSON.stringify(value)} does not match ${s.pattern}`);
  if (Array.isArray(value) && s.items) value.forEach((v, i) => validate(s.items, v, `${path}[${i}]`, out));
  if (typeOk('object', value) && (s.properties || s.additionalProperties)) {
    const obj = value as Record<string, unknown>;
    for (const r of s.required ?? []) if (!(r in obj)) out.push(`${path}: missing required ${r}`);
    for (const [k, v] of Object.entries(obj)) {
      if (s.properties?.[k]) validate(s.properties[k], v, `${path}.${k}`, out);
      else if (s.additionalProperties && typeof s.additionalProperties === 'object') validate(s.additionalProperties, v, `${path}.${k}`, out);
      else if (!s['x-kubernetes-preserve-unknown-fields'] && s.properties) out.push(`${path}: unknown field ${k}`);
    }
  }
  return out;
}

/** A Devbox against the CRD (metadata against ObjectMeta, which the CRD leaves open). */
export function checkDevbox(obj: unknown, what: string): string[] {
  const out = validate(DEVBOX_SCHEMA, obj, what);
  const meta = (obj as Schema)?.metadata;
  if (meta) validate({ $ref: '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' }, meta, `${what}.metadata`, out);
  return out;
}

/** A core Kubernetes object against its swagger definition (short name, e.g. `core.v1.Secret`). */
export function checkKube(def: string, obj: unknown, what: string): string[] {
  return validate({ $ref: `#/definitions/io.k8s.${def.startsWith('meta') ? `apimachinery.pkg.apis.${def}` : `api.${def}`}` }, obj, what);
}
