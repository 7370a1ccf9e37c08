/**
 * A small validator for the GitHub Codespaces OpenAPI 3.0 subset
 * (/work/shared/schemas/github-codespaces-openapi-subset.json, read in place): the fake checks every
 * request the adapter sends and every response it returns against the documented operation.
 * Supports what the subset uses: $ref (schemas, parameters, responses, examples), type, nullable,
 * enum, properties, required, items, oneOf/anyOf/allOf, additionalProperties, min/max lengths.
 *
 * Known disagreements between the spec and observed behaviour are listed in SPEC_QUIRKS.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

type Schema = Record<string, any>;

const SPEC_PATH = [
  fileURLToPath(new URL('../../../../shared/schemas/github-codespaces-openapi-subset.json', import.meta.url)),
  '/work/shared/schemas/github-codespaces-openapi-subset.json',
].find((p) => existsSync(p))!;
export const SPEC: Schema = JSON.parse(readFileSync(SPEC_PATH, 'utf8'));

/** `<operationId> <status>` → why an undocumented status is still a real answer. */
export const SPEC_QUIRKS: Record<string, string> = {
  // gh and precedent treat 304 on stop as "already stopped"; the spec documents only 200 for stop.
  'codespaces/stop-for-authenticated-user 304': 'precedent: 304 = already stopped',
  // 409/422/429 may come from any endpoint (GitHub's general error handling) though not listed per operation.
  'codespaces/create-with-repo-for-authenticated-user 429': 'secondary rate limit',
  'codespaces/create-with-repo-for-authenticated-user 500': 'injected server error',
  'codespaces/create-with-repo-for-authenticated-user 502': 'injected gateway error',
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
    if (!(op as Schema).operationId) continue;
    const re = new RegExp(`^${path.replace(/\{[^}]+\}/g, '([^/]+)')}$`);
    OPERATIONS.push({ id: (op as Schema).operationId, method: method.toUpperCase(), re, op: op as Schema });
  }
}

export function findOperation(method: string, path: string): Operation | undefined {
  return OPERATIONS.find((o) => o.method === method && o.re.test(path));
}

export function resolve(s: Schema | undefined): Schema | undefined {
  let cur = s;
  while (cur?.$ref) {
    let next: any = SPEC;
    for (const p of (cur.$ref as string).replace(/^#\//, '').split('/')) next = next?.[p];
    cur = next as Schema;
  }
  return cur;
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

export function validate(schemaIn: Schema | undefined, value: unknown, path: string, errors: string[]): void {
  const schema = resolve(schemaIn);
  if (!schema) return;
  if (value === null) {
    if (schema.nullable || schema.type === 'null' || schema.enum?.includes(null)) return;
    if (schema.oneOf || schema.anyOf || schema.allOf || schema.type) {
      errors.push(`${path}: null is not allowed`);
      return;
    }
    return;
  }
  for (const part of schema.allOf ?? []) validate(part, value, path, errors);
  for (const key of ['oneOf', 'anyOf'] as const) {
    if (!schema[key]) continue;
    const ok = (schema[key] as Schema[]).some((alt) => {
      const e: string[] = [];
      validate(alt, value, path, e);
      return e.length === 0;
    });
    if (!ok) errors.push(`${path}: matches none of ${key}`);
  }
  if (schema.type && !typeOk(schema.type, value)) {
    errors.push(`${path}: expected ${schema.type}, got ${Array.isArray(value) ? 'array' : typeof value}`);
    return;
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
  if (Array.isArray(value)) value.forEach((v, i) => validate(schema.items, v, `${path}[${i}]`, errors));
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
export function checkRequest(method: string, path: string, query: URLSearchParams, body: unknown): string[] {
  const op = findOperation(method, path);
  if (!op) return [`${method} ${path}: not an operation of the spec`];
  const errors: string[] = [];
  const params: Schema[] = (op.op.parameters ?? []).map((p: Schema) => resolve(p)!);
  for (const [k, v] of query) {
    const p = params.find((x) => x.in === 'query' && x.name === k);
    if (!p) {
      errors.push(`${op.id}: undeclared query parameter ${k}`);
      continue;
    }
    validate(p.schema, p.schema?.type === 'integer' ? Number(v) : v, `${op.id}.query.${k}`, errors);
  }
  const rb = resolve(op.op.requestBody);
  if (rb?.required && body === undefined) errors.push(`${op.id}: request body required`);
  const bodySchema = rb?.content?.['application/json']?.schema;
  if (bodySchema && body !== undefined) validate(bodySchema, body, `${op.id}.request`, errors);
  return errors;
}

/** Problems with a response the fake is about to send (undocumented statuses included). */
export function checkResponse(method: string, path: string, status: number, body: unknown): string[] {
  const op = findOperation(method, path);
  if (!op) return [];
  const r = resolve(op.op.responses?.[String(status)]);
  if (!r) return SPEC_QUIRKS[`${op.id} ${status}`] ? [] : [`${op.id}: status ${status} is not documented`];
  const schema = r.content?.['application/json']?.schema;
  if (!schema) return body === undefined ? [] : [`${op.id}: status ${status} documents no body`];
  const errors: string[] = [];
  validate(schema, body, `${op.id}.response`, errors);
  return errors;
}

/** A documented example value (`components.examples.<name>.value`), deep-copied. */
export function example(name: string): any {
  return JSON.parse(JSON.stringify(SPEC.components.examples[name].value));
}
