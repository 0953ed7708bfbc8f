/**
 * Strict JSON-schema validation of Knative objects against the CRD schemas in
 * `test/fixtures/knative-crds/jsonschema/<group>/<kind>_<version>.json`.
 *
 * The CRD schemas never say `additionalProperties: false`: the API server prunes unknown fields and kubectl's
 * strict validation rejects them, a plain schema check would not. Strict mode (as kubeconform -strict does) adds
 * `additionalProperties: false` to every object schema that lists `properties` and is not marked
 * `x-kubernetes-preserve-unknown-fields`. The eventing CRDs omit the root apiVersion/kind/metadata; they are added.
 * What preserve-unknown leaves unchecked (Trigger spec, delivery, filters) is covered by webhook-rules.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { CRD_SCHEMAS } from '../helpers/fixtures.ts';
import { problem, type K8sObject, type Problem } from './problem.ts';

const KUBERNETES_KEYWORDS = [
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-int-or-string',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-list-type',
  'x-kubernetes-map-type',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-validations',
];

/** Schema keywords whose values are data, not sub-schemas. */
const DATA_KEYWORDS = new Set([
  'default',
  'enum',
  'example',
  'const',
  'required',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-validations',
]);

const ajv = new Ajv({
  allErrors: true,
  strict: true,
  strictRequired: false,
  strictTypes: false,
  validateFormats: true,
});
ajv.addVocabulary(KUBERNETES_KEYWORDS);
ajv.addFormat('int32', {
  type: 'number',
  validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31,
});
ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });

const compiled = new Map<string, ValidateFunction | undefined>();

/** The schema file for an apiVersion/kind, or undefined when the reference has none. */
export function schemaPath(apiVersion: string, kind: string): string | undefined {
  const [group, version] = apiVersion.split('/');
  if (!version) return undefined;
  const file = path.join(CRD_SCHEMAS, group, `${kind.toLowerCase()}_${version}.json`);
  return existsSync(file) ? file : undefined;
}

export function hasSchema(object: K8sObject): boolean {
  return schemaPath(String(object.apiVersion), String(object.kind)) !== undefined;
}

/** Strict-mode problems of one object; [] when valid. Throws when the kind has no schema (callers ask hasSchema). */
export function schemaProblems(object: K8sObject): Problem[] {
  const validate = validatorFor(String(object.apiVersion), String(object.kind));
  if (validate(object)) return [];
  return (validate.errors ?? []).map((error) =>
    problem(object, jsonPointerToPath(instancePointer(error)), describe(error)),
  );
}

function validatorFor(apiVersion: string, kind: string): ValidateFunction {
  const key = `${apiVersion}/${kind}`;
  if (!compiled.has(key)) {
    const file = schemaPath(apiVersion, kind);
    if (!existsSync(CRD_SCHEMAS)) throw new Error(`CRD JSON schemas not found at ${CRD_SCHEMAS}`);
    compiled.set(key, file ? ajv.compile(withRoot(strictSchema(JSON.parse(readFileSync(file, 'utf8'))))) : undefined);
  }
  const validate = compiled.get(key);
  if (!validate) throw new Error(`no CRD schema for ${key} in ${CRD_SCHEMAS}`);
  return validate;
}

/** Copy of a CRD schema with `additionalProperties: false` wherever unknown fields are not explicitly preserved. */
export function strictSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strictSchema);
  if (typeof node !== 'object' || node === null) return node;
  const source = node as Record<string, unknown>;
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    if (key === 'properties') {
      result[key] = Object.fromEntries(
        Object.entries(value as Record<string, unknown>).map(([name, schema]) => [name, strictSchema(schema)]),
      );
    } else {
      result[key] = DATA_KEYWORDS.has(key) ? value : strictSchema(value);
    }
  }
  if (
    source.properties &&
    source['x-kubernetes-preserve-unknown-fields'] !== true &&
    source.additionalProperties === undefined
  ) {
    result.additionalProperties = false;
  }
  return result;
}

function withRoot(schema: unknown): Record<string, any> {
  const root = schema as Record<string, any>;
  return {
    ...root,
    required: [...new Set([...(root.required ?? []), 'apiVersion', 'kind', 'metadata'])],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      ...root.properties,
    },
    additionalProperties: false,
  };
}

function jsonPointerToPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '');
}

/** Where the finding is: an unknown field is reported at the field itself (as the webhook rules do). */
function instancePointer(error: ErrorObject): string {
  if (error.keyword !== 'additionalProperties') return error.instancePath;
  const field = (error.params as { additionalProperty: string }).additionalProperty
    .replace(/~/g, '~0')
    .replace(/\//g, '~1');
  return `${error.instancePath}/${field}`;
}

function describe(error: ErrorObject): string {
  if (error.keyword === 'additionalProperties')
    return `unknown field "${(error.params as { additionalProperty: string }).additionalProperty}"`;
  if (error.keyword === 'required')
    return `missing required field "${(error.params as { missingProperty: string }).missingProperty}"`;
  return error.message ?? error.keyword;
}
