/**
 * A small validator for the Vast OpenAPI subset (vast-openapi-subset.yaml, a copy of
 * /work/shared/schemas/): the fake checks every request the adapter sends and every response it
 * returns against the documented operation. Supports what the subset uses: $ref, type (incl. type
 * lists), enum, properties, required, items, min/max, minLength/maxLength, additionalProperties.
 *
 * Known disagreements between the spec and the live API/CLI are listed in SPEC_QUIRKS and skipped.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

type Schema = Record<string, any>;

const SPEC: Schema = parseYaml(readFileSync(fileURLToPath(new URL('./vast-openapi-subset.yaml', import.meta.url)), 'utf8'));

/**
 * path → why it is skipped. Each one is documented in shared/schemas/README.md or providers.md.
 */
export const SPEC_QUIRKS: Record<string, string> = {
  // `minItems: 2, maxItems: 2` sit on `order` itself though they describe each [field, dir] pair.
  'searchOffers.request.order': 'minItems/maxItems apply to the inner pair',
  // The Instance schema says `ports: integer[]`; the live API (and the v1 list schema) map "22/tcp" → bindings.
  'showInstance.response.instances.ports': 'object of port bindings, as in the v1 list schema',
};

/** Paths where `null` is a documented live answer the spec does not allow. */
export const NULL_OK: Record<string, string> = {
  'showInstance.response.instances': 'the CLI reads `instances: null` once the instance no longer exists',
};

interface Operation {
  id: string;
  method: string;
  re: RegExp;
  op: Schema;
}

const OPERATIONS: Operation[] = [];
for (const [path, item] of Object.entries(SPEC.paths as Schema)) {
  for (const [method, op] of Object.entries(item as Schema)) {
    const re = new RegExp(`^${path.replace(/\{[^}]+\}/g, '(\\d+)')}/?$`);
    OPERATIONS.push({ id: (op as Schema).operationId, method: method.toUpperCase(), re, op: op as Schema });
  }
}

export function findOperation(method: string, path: string): Operation | undefined {
  return OPERATIONS.find((o) => o.method === method && o.re.test(path));
}

function resolve(s: Schema | undefined): Schema | undefined {
  if (!s?.$ref) return s;
  const parts = (s.$ref as string).replace(/^#\//, '').split('/');
  let cur: any = SPEC;
  for (const p of parts) cur = cur?.[p];
  return cur as Schema;
}

function typeOk(t: string, v: unknown): boolean {
  switch (t) {
    case 'integer':
      return Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
    case 'string':
      return typeof v === 'string';
    case 'boolean':
      return typeof v === 'boolean';
    case 'null':
      return v === null;
    case 'array':
      return Array.isArray(v);
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    default:
      return true;
  }
}

export function validate(schemaIn: Schema | undefined, value: unknown, path: string, errors: string[]): void {
  const schema = resolve(schemaIn);
  if (!schema) return;
  if (SPEC_QUIRKS[path]) return;
  if (value === null && NULL_OK[path]) return;
  if (schema.type) {
    const types = ([] as string[]).concat(schema.type);
    if (!types.some((t) => typeOk(t, value))) {
      errors.push(`${path}: expected ${types.join('|')}, got ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value}`);
      return;
    }
  }
  if (schema.enum && !schema.enum.includes(value)) errors.push(`${path}: ${JSON.stringify(value)} not in ${JSON.stringify(schema.enum)}`);
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) errors.push(`${path}: shorter than ${schema.minLength}`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) errors.push(`${path}: longer than ${schema.maxLength}`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${path}: below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${path}: above ${schema.maximum}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) errors.push(`${path}: fewer than ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${path}: more than ${schema.maxItems} items`);
    value.forEach((v, i) => validate(schema.items, v, `${path}[${i}]`, errors));
  }
  if (typeOk('object', value)) {
    const obj = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in obj)) errors.push(`${path}: missing required ${r}`);
    for (const [k, v] of Object.entries(obj)) {
      const prop = schema.properties?.[k];
      if (prop) validate(prop, v, `${path}.${k}`, errors);
      else if (typeof schema.additionalProperties === 'object') validate(schema.additionalProperties, v, `${path}.${k}`, errors);
      else if (schema.additionalProperties === false) errors.push(`${path}: unexpected ${k}`);
    }
  }
}

/** Problems with a request: unknown operation, undeclared/invalid query parameters, body shape. */
export function checkRequest(method: string, path: string, query: URLSearchParams, body: unknown, allowedExtraQuery: string[] = []): string[] {
  const op = findOperation(method, path);
  if (!op) return [`${method} ${path}: not an operation of the spec`];
  const errors: string[] = [];
  const params: Schema[] = (op.op.parameters ?? []).map(resolve);
  for (const [k, v] of query) {
    const p = params.find((x) => x.in === 'query' && x.name === k);
    if (!p) {
      if (!allowedExtraQuery.includes(k)) errors.push(`${op.id}: undeclared query parameter ${k}`);
      continue;
    }
    const value = p.schema?.type === 'integer' ? Number(v) : v;
    validate(p.schema, value, `${op.id}.query.${k}`, errors);
  }
  const bodySchema = op.op.requestBody?.content?.['application/json']?.schema;
  if (op.op.requestBody?.required && body === undefined) errors.push(`${op.id}: request body required`);
  if (bodySchema && body !== undefined) validate(bodySchema, body, `${op.id}.request`, errors);
  return errors;
}

/** Problems with a response the fake is about to send (undocumented statuses included). */
export function checkResponse(method: string, path: string, status: number, body: unknown): string[] {
  const op = findOperation(method, path);
  if (!op) return [];
  const r = op.op.responses?.[String(status)];
  if (!r) return [`${op.id}: status ${status} is not documented`];
  const errors: string[] = [];
  validate(r.content?.['application/json']?.schema, body, `${op.id}.response`, errors);
  return errors;
}
