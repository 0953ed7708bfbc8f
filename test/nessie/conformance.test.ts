/**
 * Conformance of real traffic with the Nessie OpenAPI: a scenario drives the client against the embedded server,
 * every request and response is recorded by a forwarding HTTP proxy between the two, and each body is validated against the operation's
 * schema in `test/fixtures/nessie/nessie-v2-wap-subset.hand-derived.openapi.yaml` (the V2 shapes and real
 * status codes; upstream's generated spec still says merge answers 204 and that `fromHash` is optional — that file's
 * header lists the differences, and the server follows the real Nessie there).
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNessieClient, NO_ANCESTOR_HASH, type NessieClient } from '../../shared/catalog/nessie/index.ts';
import { NESSIE_OPENAPI } from '../helpers/fixtures.ts';
import { key, namespace, put, startEmbeddedNessie, table, type EmbeddedNessie } from './helpers.ts';

const spec = parseYaml(readFileSync(NESSIE_OPENAPI, 'utf8')) as {
  paths: Record<string, Record<string, any>>;
  components: any;
};

const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;
const ajv = new Ajv({ strict: false, allErrors: true });
(addFormats as unknown as (a: Ajv) => void)(ajv);
ajv.addFormat('int32', true);
ajv.addFormat('int64', true);
ajv.addSchema({ ...spec, $id: 'nessie' });

interface Exchange {
  method: string;
  path: string;
  requestBody?: string;
  status: number;
  responseBody: string;
}

const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/** The spec operation for a concrete request path below the API base (`/v2/...`). */
function operationFor(method: string, requestPath: string): { template: string; operation: any } | undefined {
  for (const [template, item] of Object.entries(spec.paths)) {
    const pattern = new RegExp(`^${template.replace(/\{to-ref\}/, '.+').replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (pattern.test(requestPath) && item[method.toLowerCase()])
      return { template, operation: item[method.toLowerCase()] };
  }
  return undefined;
}

const validators = new Map<string, ValidateFunction>();
function validator(ref: string): ValidateFunction {
  let v = validators.get(ref);
  if (!v) validators.set(ref, (v = ajv.compile({ $ref: ref })));
  return v;
}

function responseSchemaRef(template: string, method: string, status: number, operation: any): string | undefined {
  const response = operation.responses[String(status)];
  if (!response) return undefined;
  if (response.$ref) return 'nessie#/components/schemas/NessieError';
  return `nessie#/${pointer('paths', template, method.toLowerCase(), 'responses', String(status), 'content', 'application/json', 'schema')}`;
}

let nessie: EmbeddedNessie;
let proxy: http.Server | undefined;
const exchanges: Exchange[] = [];

/** Forwards every request to `target` as it came and records the exchange; answers with the server's response. */
async function recordingProxy(target: string): Promise<string> {
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const sent = Buffer.concat(chunks);
      const forward = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          const received: Buffer[] = [];
          answer.on('data', (c: Buffer) => received.push(c));
          answer.on('end', () => {
            const body = Buffer.concat(received);
            exchanges.push({
              method: req.method!,
              path: new URL(req.url!, upstream).pathname.replace(/^\/api/, ''),
              requestBody: chunks.length ? sent.toString('utf8') : undefined,
              status: answer.statusCode!,
              responseBody: body.toString('utf8'),
            });
            res.writeHead(answer.statusCode!, answer.headers);
            res.end(body);
          });
        },
      );
      forward.on('error', (err) => {
        res.writeHead(502, { 'Content-Type': 'text/plain' });
        res.end(`proxy: ${err.message}`);
      });
      forward.end(sent);
    });
  });
  proxy = server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}${upstream.pathname}`;
}

beforeAll(async () => {
  nessie = await startEmbeddedNessie();
  await runScenario(createNessieClient({ uri: await recordingProxy(nessie.uri) }));
});

afterAll(async () => {
  const server = proxy;
  if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  await nessie?.stop();
});

/** Every endpoint the client uses, successes and the common errors. */
async function runScenario(client: NessieClient): Promise<void> {
  const swallow = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      () => undefined,
    );
  await client.config();
  const setup = await client.commit(
    'main',
    NO_ANCESTOR_HASH,
    { message: 'setup', authors: ['a'], properties: { p: 'v' } },
    [put(key('ns'), namespace('ns')), put(key('ns', 't'), table('s3://t/0', 6270371423468402233n))],
  );
  const head = setup.targetBranch.hash;
  const id = setup.addedContents[1].contentId;
  const wap = await client.createReference('wap/c', 'BRANCH', { name: 'main', hash: head });
  const onWap = await client.commit(wap.name, wap.hash, { message: 'w' }, [
    put(key('ns', 't'), table('s3://t/1', 1n, id)),
    put(key('ns', 's'), table('s3://s', 1n)),
  ]);
  await client.getReference('main', { fetch: 'ALL' });
  await client.listReferences({ fetch: 'ALL' });
  await client.getContent('main', key('ns', 't'));
  await client.getContents(wap.name, [key('ns', 't'), key('ns', 'missing')]);
  await client.listEntries('main', { content: true, prefixKey: key('ns') });
  for await (const _ of client.commitLog(wap.name, { fetch: 'ALL', maxRecords: 1 })) void _;
  await client.diff('main', wap.name);
  await client.merge('main', head, {
    fromRefName: wap.name,
    fromHash: onWap.targetBranch.hash,
    dryRun: true,
    keyMergeModes: [{ key: key('ns', 's'), mergeBehavior: 'DROP' }],
  });
  const merged = await client.merge('main', head, {
    fromRefName: wap.name,
    fromHash: onWap.targetBranch.hash,
    commitMeta: { message: 'publish' },
    keyMergeModes: [{ key: key('ns', 's'), mergeBehavior: 'DROP' }],
  });
  const late = await client.createReference('late', 'BRANCH', { hash: head });
  const lateCommit = await client.commit(late.name, late.hash, { message: 'l' }, [
    put(key('ns', 't'), table('s3://t/late', 2n, id)),
  ]);
  await client.merge('main', merged.resultantTargetHash!, {
    fromRefName: late.name,
    fromHash: lateCommit.targetBranch.hash,
  });
  await swallow(
    client.merge('main', merged.resultantTargetHash!, {
      fromRefName: late.name,
      fromHash: lateCommit.targetBranch.hash,
      returnConflictAsResult: false,
    }),
  );
  await client.transplant(late.name, lateCommit.targetBranch.hash, {
    fromRefName: wap.name,
    hashesToTransplant: [onWap.targetBranch.hash],
    returnConflictAsResult: true,
  });
  const tag = await client.createReference('v1', 'TAG', { hash: head });
  await client.assignReference('v1', 'TAG', tag.hash, { hash: merged.resultantTargetHash! });
  await client.deleteReference('v1', 'TAG', merged.resultantTargetHash!);
  await swallow(client.getReference('nope'));
  await swallow(client.getContent('main', key('ns', 'missing')));
  await swallow(client.createReference('late', 'BRANCH', { hash: head }));
  await swallow(client.commit('main', head, { message: 'stale' }, [put(key('ns', 't'), table('s3://t/x', 3n, id))]));
  await swallow(client.commit('main', head, { message: 'bad' }, [put(key('ns', 't'), table('s3://t/x', 3n))]));
  await swallow(client.deleteReference(wap.name, 'BRANCH', head));
}

describe('Nessie conformance with the OpenAPI', () => {
  it('recorded a scenario covering every endpoint the client uses', () => {
    const templates = new Set(
      exchanges.map((e) => operationFor(e.method, e.path)?.template ?? `UNMATCHED ${e.method} ${e.path}`),
    );
    expect([...templates].filter((t) => t.startsWith('UNMATCHED'))).toEqual([]);
    for (const template of [
      '/v2/config',
      '/v2/trees',
      '/v2/trees/{ref}',
      '/v2/trees/{ref}/entries',
      '/v2/trees/{ref}/contents/{key}',
      '/v2/trees/{ref}/contents',
      '/v2/trees/{ref}/history',
      '/v2/trees/{branch}/history/commit',
      '/v2/trees/{branch}/history/merge',
      '/v2/trees/{branch}/history/transplant',
      '/v2/trees/{from-ref}/diff/{to-ref}',
    ]) {
      expect(templates, template).toContain(template);
    }
    expect(new Set(exchanges.map((e) => e.status))).toEqual(new Set([200, 400, 404, 409]));
  });

  it('the schemas reject malformed bodies (the validation is not vacuous)', () => {
    expect(
      validator('nessie#/components/schemas/CommitResponse')({ targetBranch: { type: 'NOPE', hash: 'xyz' } }),
    ).toBe(false);
    expect(validator('nessie#/components/schemas/NessieError')({ status: 409, reason: 'Conflict' })).toBe(false);
    expect(
      validator('nessie#/components/schemas/Operations')({
        commitMeta: { message: 'm' },
        operations: [{ type: 'PUT', key: { elements: ['a'] }, content: { type: 'ICEBERG_TABLE' } }],
      }),
    ).toBe(false);
    expect(validator('nessie#/components/schemas/MergeResponse')({ wasApplied: 'yes' })).toBe(false);
  });

  it("every request body matches the operation's request schema", () => {
    const problems: string[] = [];
    for (const e of exchanges.filter((x) => x.requestBody !== undefined)) {
      const { template, operation } = operationFor(e.method, e.path)!;
      expect(operation.requestBody, `${e.method} ${template} takes no body`).toBeDefined();
      const validate = validator(
        `nessie#/${pointer('paths', template, e.method.toLowerCase(), 'requestBody', 'content', 'application/json', 'schema')}`,
      );
      if (!validate(JSON.parse(e.requestBody!)))
        problems.push(`${e.method} ${e.path}: ${ajv.errorsText(validate.errors)}`);
    }
    expect(problems).toEqual([]);
  });

  it('every response has a documented status and a body matching its schema', () => {
    const problems: string[] = [];
    for (const e of exchanges) {
      const { template, operation } = operationFor(e.method, e.path)!;
      const ref = responseSchemaRef(template, e.method, e.status, operation);
      if (!ref) {
        problems.push(`${e.method} ${template}: status ${e.status} not documented`);
        continue;
      }
      const validate = validator(ref);
      if (!validate(JSON.parse(e.responseBody)))
        problems.push(`${e.method} ${e.path} ${e.status}: ${ajv.errorsText(validate.errors)}`);
    }
    expect(problems).toEqual([]);
  });
});
