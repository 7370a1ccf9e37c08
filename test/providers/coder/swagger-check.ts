/**
 * A small validator for the Coder Swagger 2.0 subset (coder-swagger-subset.json, a copy of
 * /work/shared/schemas/ plus `get-template-version-presets` and `codersdk.Preset`, written from
 * Coder's API reference, https://coder.com/docs/reference/api/templates, with the Go field names
 * the server really sends): the fake checks every request the adapter (and the fake `coder` CLI)
 * sends and every response it returns against the documented operation. Supports what the subset
 * uses: $ref, type, format (uuid, date-time), enum, properties, required, items, allOf.
 *
 * Error answers (4xx/5xx) are not attached to operations upstream; the subset ships
 * `codersdk.Response` for them, so errors are checked against that instead.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

type Schema = Record<string, any>;

const SPEC: Schema = JSON.parse(readFileSync(fileURLToPath(new URL('./coder-swagger-subset.json', import.meta.url)), 'utf8'));

interface Operation {
  id: string;
  method: string;
  re: RegExp;
  op: Schema;
  template: string;
}

const OPERATIONS: Operation[] = [];
for (const [path, item] of Object.entries(SPEC.paths as Schema)) {
  for (const [method, op] of Object.entries(item as Schema)) {
    const re = new RegExp(`^${path.replace(/\{[^}]+\}/g, '([^/]+)')}$`);
    OPERATIONS.push({ id: (op as Schema).operationId, method: method.toUpperCase(), re, op: op as Schema, template: path });
  }
}
// Literal paths first (`/api/v2/templates` before `/api/v2/templates/{template}`).
OPERATIONS.sort((a, b) => (a.template.match(/\{/g)?.length ?? 0) - (b.template.match(/\{/g)?.length ?? 0));

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
    case 'array':
      return Array.isArray(v);
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    default:
      return true;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function validate(schemaIn: Schema | undefined, value: unknown, path: string, errors: string[]): void {
  const schema = resolve(schemaIn);
  if (!schema) return;
  for (const part of schema.allOf ?? []) validate(part, value, path, errors);
  if (schema.type) {
    if (!typeOk(schema.type, value)) {
      errors.push(`${path}: expected ${schema.type}, got ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value}`);
      return;
    }
  }
  if (schema.enum && !schema.enum.includes(value)) errors.push(`${path}: ${JSON.stringify(value)} not in ${JSON.stringify(schema.enum)}`);
  if (typeof value === 'string') {
    if (schema.format === 'uuid' && !UUID.test(value)) errors.push(`${path}: ${JSON.stringify(value)} is not a uuid`);
    if (schema.format === 'date-time' && Number.isNaN(Date.parse(value))) errors.push(`${path}: ${JSON.stringify(value)} is not a date-time`);
  }
  if (Array.isArray(value)) value.forEach((v, i) => validate(schema.items, v, `${path}[${i}]`, errors));
  if (typeOk('object', value)) {
    const obj = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in obj)) errors.push(`${path}: missing required ${r}`);
    for (const [k, v] of Object.entries(obj)) {
      const prop = schema.properties?.[k];
      if (prop) validate(prop, v, `${path}.${k}`, errors);
      else if (schema.properties && !schema.additionalProperties && schema.type === 'object' && Object.keys(schema.properties).length) {
        errors.push(`${path}: unexpected ${k}`);
      }
    }
  }
}

/** Problems with a request: unknown operation, undeclared/invalid query parameters, body shape, auth header. */
export function checkRequest(method: string, path: string, query: URLSearchParams, body: unknown): string[] {
  const op = findOperation(method, path);
  if (!op) return [`${method} ${path}: not an operation of the spec`];
  const errors: string[] = [];
  const params: Schema[] = op.op.parameters ?? [];
  for (const [k, v] of query) {
    const p = params.find((x) => x.in === 'query' && x.name === k);
    if (!p) {
      errors.push(`${op.id}: undeclared query parameter ${k}`);
      continue;
    }
    if (p.type === 'integer' && !/^\d+$/.test(v)) errors.push(`${op.id}.query.${k}: ${JSON.stringify(v)} is not an integer`);
  }
  const bodyParam = params.find((x) => x.in === 'body');
  if (bodyParam?.required && body === undefined) errors.push(`${op.id}: request body required`);
  if (!bodyParam && body !== undefined) errors.push(`${op.id}: takes no body`);
  if (bodyParam && body !== undefined) validate(bodyParam.schema, body, `${op.id}.request`, errors);
  const security: Schema[] = op.op.security ?? SPEC.security ?? [];
  if (!security.some((s) => 'CoderSessionToken' in s)) errors.push(`${op.id}: not documented for Coder-Session-Token auth`);
  return errors;
}

/** Problems with a response the fake is about to send. */
export function checkResponse(method: string, path: string, status: number, body: unknown): string[] {
  const op = findOperation(method, path);
  if (!op) return [];
  const errors: string[] = [];
  if (status >= 400) {
    validate({ $ref: '#/definitions/codersdk.Response' }, body, `${op.id}.error`, errors);
    return errors;
  }
  const r = op.op.responses?.[String(status)];
  if (!r) return [`${op.id}: status ${status} is not documented`];
  validate(r.schema, body, `${op.id}.response`, errors);
  return errors;
}
