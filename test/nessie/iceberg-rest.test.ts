/**
 * The embedded Nessie's Iceberg REST endpoint (`/iceberg`) over tables the chain wrote: config and prefixes, namespaces
 * and tables with paging, a table's metadata exactly as its file has it (64-bit snapshot ids included), a WAP branch
 * chosen by prefix or `name@ref`, URL-encoded multi-level namespaces, and Iceberg error bodies.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import { startNessieServer, type RunningNessieServer } from '../../local/nessie/index.ts';
import { createNessieClient } from '../../shared/catalog/nessie/index.ts';
import { loadTable, type Catalog } from '../../shared/catalog/table-catalog.ts';
import type { TaggedRecord } from '../../shared/events/contract.ts';
import { loadEnv } from '../../shared/runtime/env.ts';
import { createFileIO, fileLocation, localPathOf } from '../../shared/storage/index.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import type { WapContext } from '../../shared/wap/wap-context.ts';
import { record } from '../helpers/records.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { tempDir } from '../helpers/tmp.ts';

const ENTRY = 'production.parking_entry';

let tmp: { dir: string; cleanup: () => Promise<void> };
let nessie: RunningNessieServer;
let catalog: Catalog;
let warehouse: string;
let branch: string;

function entry(offset: number, malformed = false): TaggedRecord {
  if (malformed) return record(offset);
  return record(offset, {
    event_id: `e${offset}`,
    timestamp: `2026-03-0${1 + (offset % 3)}T10:15:00Z`,
    car_id: `B-${offset}`,
    slot: `A-${offset % 4}`,
    latitude: 52.5205,
    longitude: 13.405,
  });
}

async function get(
  pathAndQuery: string,
  method = 'GET',
): Promise<{ status: number; text: string; body: Record<string, any> }> {
  const response = await fetch(`${nessie.icebergUri}/${pathAndQuery}`, { method });
  const text = await response.text();
  return { status: response.status, text, body: text ? parseJson<Record<string, any>>(text) : {} };
}

beforeAll(async () => {
  tmp = await tempDir('floe-iceberg-rest');
  warehouse = `${fileLocation(path.join(tmp.dir, 'warehouse'))}/`;
  nessie = await startNessieServer({ dataDir: path.join(tmp.dir, 'nessie'), warehouse, logger: silentLogger });
  const env = loadEnv({
    FLOE_WAREHOUSE: warehouse,
    NESSIE_URI: nessie.uri,
    FLOE_CONFIG: 'knative/config/pipeline.yaml',
  });
  catalog = {
    client: createNessieClient({ uri: nessie.uri }),
    io: createFileIO({ localFiles: true }),
    warehouse: env.warehouse,
  };
  const ctx: WapContext = { catalog, config: env.pipeline, log: silentLogger };
  for (const batch of [
    [entry(0), entry(1), entry(2, true)],
    [entry(3), entry(4)],
  ]) {
    const written = await writeBatch(ctx, 'parking-entry', batch);
    await publishBatch(ctx, await auditBatch(ctx, written));
  }
  // a batch written and audited but not published: its WAP branch is ahead of main
  const written = await writeBatch(ctx, 'parking-entry', [entry(5), entry(6)]);
  await auditBatch(ctx, written);
  branch = written.branch;

  // a two-level namespace and a table whose names need URL encoding, on the same metadata file as parking_entry
  const main = await catalog.client.getReference('main');
  const table = (await catalog.client.getContent('main', { elements: ['production', 'parking_entry'] })).value;
  if (table.type !== 'ICEBERG_TABLE') throw new Error(`${ENTRY} is a ${table.type}`);
  const { id: _id, ...copy } = table;
  const ns = (...elements: string[]) => ({
    type: 'PUT' as const,
    key: { elements },
    content: { type: 'NAMESPACE' as const, elements, properties: {} },
  });
  await catalog.client.commit('main', main.hash, { message: 'encoded names' }, [
    ns('a'),
    ns('a', 'b c/d'),
    {
      type: 'PUT',
      key: { elements: ['a', 'b c/d', 't%x'] },
      content: copy,
    },
  ]);
}, 60_000);

afterAll(async () => {
  await nessie?.stop();
  await tmp?.cleanup();
});

describe('Iceberg REST config', () => {
  it('hands out the prefix of the reference and warehouse, the URIs and the served endpoints', async () => {
    const plain = await get('v1/config');
    expect(plain.status).toBe(200);
    expect(plain.body.defaults).toMatchObject({ prefix: 'main', warehouse, 'rest-page-size': '200' });
    expect(plain.body.overrides).toMatchObject({
      uri: `${nessie.icebergUri}/`,
      'nessie.core-base-uri': `${nessie.uri}/`,
      'nessie.is-nessie-catalog': 'true',
      'nessie.default-branch.name': 'main',
    });
    expect(plain.body.endpoints).toContain('GET /v1/{prefix}/namespaces/{namespace}/tables/{table}');
    expect(plain.body.endpoints).not.toContain('POST /v1/{prefix}/namespaces/{namespace}/tables/{table}');

    expect((await get('v1/config?warehouse=warehouse')).body.defaults.prefix).toBe('main%7Cwarehouse');
    expect((await get(`v1/config?warehouse=${encodeURIComponent(warehouse)}`)).body.defaults.prefix).toBe(
      'main%7Cwarehouse',
    );
    const onBranch = await get(`${encodeURIComponent(branch)}/v1/config?warehouse=warehouse`);
    expect(onBranch.body.defaults.prefix).toBe(encodeURIComponent(`${branch}|warehouse`));
    expect(onBranch.body.overrides['nessie.default-branch.name']).toBe(branch);
  });

  it('refuses a warehouse it does not know with an Iceberg error body', async () => {
    const unknown = await get('v1/config?warehouse=elsewhere');
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ type: 'BadRequestException', code: 400 });
    expect(unknown.body.error.message).toContain("Warehouse 'elsewhere' is not known");
  });
});

describe('Iceberg REST namespaces and tables', () => {
  it('lists namespaces at the top and under a parent, and loads one with its location', async () => {
    const top = (await get('v1/main/namespaces')).body;
    expect(top['next-page-token']).toBeNull();
    expect(top.namespaces).toEqual(expect.arrayContaining([['a'], ['production']]));
    expect(top.namespaces.every((ns: string[]) => ns.length === 1)).toBe(true);
    expect(top.namespaces).toEqual([...top.namespaces].sort());
    expect((await get('v1/main%7Cwarehouse/namespaces?parent=a')).body.namespaces).toEqual([['a', 'b c/d']]);
    const production = await get('v1/main/namespaces/production');
    expect(production.body).toEqual({ namespace: ['production'], properties: { location: `${warehouse}production/` } });
    expect((await get('v1/main/namespaces/production', 'HEAD')).status).toBe(204);
  });

  it('lists a namespace`s tables, in pages when asked', async () => {
    const all = await get('v1/main/namespaces/production/tables');
    const names = all.body.identifiers.map((t: { name: string }) => t.name);
    expect(names).toEqual(expect.arrayContaining(['parking_entry', 'parking_entry_untrusted']));
    expect(all.body.identifiers[0].namespace).toEqual(['production']);

    const paged: string[] = [];
    let token: string | null = '';
    let pages = 0;
    while (token !== null) {
      const page = await get(`v1/main/namespaces/production/tables?pageSize=1&pageToken=${token}`);
      expect(page.body.identifiers).toHaveLength(1);
      paged.push(...page.body.identifiers.map((t: { name: string }) => t.name));
      token = page.body['next-page-token'];
      pages++;
    }
    expect(paged).toEqual(names);
    expect(pages).toBe(names.length);
  });

  it('URL-encoded multi-level namespaces and table names', async () => {
    const ns = `a%1F${encodeURIComponent('b c/d')}`;
    expect((await get(`v1/main/namespaces/${ns}`)).body.namespace).toEqual(['a', 'b c/d']);
    expect((await get(`v1/main/namespaces/${ns}/tables`)).body.identifiers).toEqual([
      { namespace: ['a', 'b c/d'], name: 't%x' },
    ]);
    const loaded = await get(`v1/main/namespaces/${ns}/tables/${encodeURIComponent('t%x')}`);
    expect(loaded.status).toBe(200);
    expect(loaded.body['metadata-location']).toBe((await loadTable(catalog, 'main', ENTRY))!.metadataLocation);
  });
});

describe('Iceberg REST load table', () => {
  it('serves the metadata file as it is, 64-bit snapshot ids exact', async () => {
    const floe = (await loadTable(catalog, 'main', ENTRY))!;
    const loaded = await get('v1/main%7Cwarehouse/namespaces/production/tables/parking_entry');
    expect(loaded.status).toBe(200);
    expect(loaded.body['metadata-location']).toBe(floe.metadataLocation);
    const file = parseJson<Record<string, any>>(await readFile(localPathOf(floe.metadataLocation)));
    const { properties, ...rest } = loaded.body.metadata;
    const { properties: fileProperties, ...fileRest } = file;
    expect(rest).toEqual(fileRest);
    expect(properties).toEqual({ ...fileProperties, 'gc.enabled': 'false' });

    const current = floe.metadata.currentSnapshotId!;
    expect(loaded.body.metadata['current-snapshot-id']).toBe(current);
    // the digits on the wire, not a double's approximation of them
    expect(loaded.text).toContain(`"current-snapshot-id":${current}`);
    const ids: bigint[] = loaded.body.metadata.snapshots.map((s: { 'snapshot-id': bigint }) =>
      BigInt(s['snapshot-id']),
    );
    expect(ids.length).toBeGreaterThan(1);
    // 63-bit random ids: all of them below 2^53 would happen once in 2^(10·n) runs
    expect(ids.some((id) => id > BigInt(Number.MAX_SAFE_INTEGER))).toBe(true);
    for (const id of ids) expect(loaded.text).toContain(`"snapshot-id":${id}`);
  });

  it('snapshots=refs leaves out snapshots no branch or tag points at', async () => {
    const floe = (await loadTable(catalog, 'main', ENTRY))!;
    const refs = await get('v1/main/namespaces/production/tables/parking_entry?snapshots=refs');
    expect(refs.body.metadata.snapshots.map((s: { 'snapshot-id': bigint }) => s['snapshot-id'])).toEqual([
      floe.metadata.currentSnapshotId,
    ]);
    const all = await get('v1/main/namespaces/production/tables/parking_entry?snapshots=all');
    expect(all.body.metadata.snapshots.length).toBeGreaterThan(1);
    const bad = await get('v1/main/namespaces/production/tables/parking_entry?snapshots=some');
    expect(bad.status).toBe(400);
    expect(bad.body.error.type).toBe('BadRequestException');
  });

  it('reads a WAP branch chosen by prefix, by unit-separated prefix and by name@ref', async () => {
    const onMain = (await loadTable(catalog, 'main', ENTRY))!;
    const onBranch = (await loadTable(catalog, branch, ENTRY))!;
    expect(onBranch.metadata.currentSnapshotId).not.toBe(onMain.metadata.currentSnapshotId);
    const prefixes = [
      encodeURIComponent(`${branch}|warehouse`),
      encodeURIComponent(branch),
      encodeURIComponent(branch.replaceAll('/', '\u001f')),
    ];
    for (const prefix of prefixes) {
      const loaded = await get(`v1/${prefix}/namespaces/production/tables/parking_entry`);
      expect(loaded.status, prefix).toBe(200);
      expect(loaded.body['metadata-location']).toBe(onBranch.metadataLocation);
      expect(loaded.body.metadata['current-snapshot-id']).toBe(onBranch.metadata.currentSnapshotId);
    }
    const byName = await get(`v1/main/namespaces/production/tables/${encodeURIComponent(`parking_entry@${branch}`)}`);
    expect(byName.body['metadata-location']).toBe(onBranch.metadataLocation);
    const head = (await catalog.client.getReference('main')).hash;
    const atHash = await get(`v1/main/namespaces/production/tables/${encodeURIComponent(`parking_entry#${head}`)}`);
    expect(atHash.body['metadata-location']).toBe(onMain.metadataLocation);
  });
});

describe('Iceberg REST errors', () => {
  it('404 NoSuchTableException / NoSuchNamespaceException in Iceberg`s error shape; HEAD without a body', async () => {
    const table = await get('v1/main/namespaces/production/tables/nope');
    expect(table.status).toBe(404);
    expect(table.body).toEqual({
      error: { message: 'Table does not exist: production.nope', type: 'NoSuchTableException', code: 404 },
    });
    const head = await get('v1/main/namespaces/production/tables/nope', 'HEAD');
    expect([head.status, head.text]).toEqual([404, '']);
    expect((await get('v1/main/namespaces/production/tables/parking_entry', 'HEAD')).status).toBe(204);
    // a namespace is no table, and a table no namespace
    expect((await get('v1/main/namespaces/a/tables/b%20c%2Fd')).body.error.type).toBe('NoSuchTableException');
    for (const missing of [
      'v1/main/namespaces/nowhere',
      'v1/main/namespaces/nowhere/tables',
      'v1/main/namespaces?parent=nowhere',
      `v1/main/namespaces/${encodeURIComponent('production\u001fparking_entry')}`,
    ]) {
      const answer = await get(missing);
      expect(answer.status, missing).toBe(404);
      expect(answer.body.error, missing).toMatchObject({ type: 'NoSuchNamespaceException', code: 404 });
    }
    expect((await get('v1/main/namespaces/nowhere', 'HEAD')).status).toBe(404);
  });

  it('an unknown reference, writes and unknown paths', async () => {
    const ref = await get('v1/nobranch/namespaces/production/tables/parking_entry');
    expect(ref.status).toBe(400);
    expect(ref.body.error).toMatchObject({ type: 'NoSuchReferenceException', code: 400 });
    expect(ref.body.error.message).toContain("'nobranch'");

    for (const [method, where] of [
      ['POST', 'v1/main/namespaces'],
      ['DELETE', 'v1/main/namespaces/production'],
      ['POST', 'v1/main/namespaces/production/tables'],
      ['POST', 'v1/main/namespaces/production/tables/parking_entry'],
      ['DELETE', 'v1/main/namespaces/production/tables/parking_entry'],
      ['POST', 'v1/main/transactions/commit'],
      ['POST', 'v1/main/tables/rename'],
    ]) {
      const answer = await get(where, method);
      expect(answer.status, `${method} ${where}`).toBe(406);
      expect(answer.body.error.type).toBe('UnsupportedOperationException');
      expect(answer.body.error.message).toContain('/api/v2');
    }
    // the token endpoint answers in OAuth's error shape
    const token = await get('v1/oauth/tokens', 'POST');
    expect(token.status).toBe(501);
    expect(token.body.error).toBe('NotImplemented');
    const unknown = await get('v1/main/whatever');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ type: 'NotFoundException', code: 404 });
  });
});
