/**
 * The compactor and janitor served by the real function host, fed PingSource-shaped events over HTTP: each run does
 * its jobs, leaves its reports in the warehouse, counts itself in /metrics, re-drives stalled batches to the sink, and
 * refuses jobs and data it does not know.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEvent, fromHttp, toHttpBinary, type CloudEventMessage } from '../../shared/events/cloudevent.ts';
import { EventType } from '../../shared/events/contract.ts';
import { compactorFunction } from '../../functions/compactor/index.ts';
import { janitorFunction } from '../../functions/janitor/index.ts';
import { readReports } from '../../shared/maintenance/run-report.ts';
import { loadEnv } from '../../shared/runtime/env.ts';
import { startHost, type RunningHost } from '../../shared/runtime/function-host.ts';
import type { Runtime } from '../../shared/runtime/runtime.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import { loadTable } from '../../shared/catalog/table-catalog.ts';
import { writeRows } from '../../shared/iceberg/writer.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { appendRows, createEventsTable, entry, eventRows, startEnv, type TestEnv } from './helpers.ts';

function ping(job: string, data: Record<string, unknown> = { job }): CloudEventMessage {
  return createEvent({
    type: EventType.ping,
    source: `/apis/v1/namespaces/floe/pingsources/${job}`,
    extensions: { floejob: job },
    data,
  });
}

async function post(host: RunningHost, event: CloudEventMessage): Promise<{ status: number; body: string }> {
  const { headers, body } = toHttpBinary(event);
  const response = await fetch(host.url, { method: 'POST', headers, body });
  return { status: response.status, body: await response.text() };
}

describe('maintenance functions', () => {
  let env: TestEnv;
  let runtime: Runtime;
  let sink: http.Server;
  const received: CloudEventMessage[] = [];
  const hosts: RunningHost[] = [];
  const settings = {
    orphanGraceMs: 3 * 86_400_000,
    rejectedRetentionMs: 7 * 86_400_000,
    stallAfterMs: 0,
    snapshotMaxAgeMs: 3_600_000,
  };

  beforeAll(async () => {
    env = await startEnv('floe-maintenance-fn');
    await createEventsTable(env.catalog, 'db.events');
    for (let i = 0; i < 6; i++) await appendRows(env.catalog, 'db.events', eventRows(i * 10, 10));
    sink = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push(fromHttp(req.headers, Buffer.concat(chunks)));
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', () => resolve()));
    const floeEnv = loadEnv({
      FLOE_WAREHOUSE: env.catalog.warehouse,
      NESSIE_URI: env.catalog.client.uri,
      FLOE_CONFIG: 'knative/config/pipeline.yaml',
    });
    runtime = { env: floeEnv, log: silentLogger, io: env.catalog.io, catalog: env.catalog };
  });
  afterAll(async () => {
    for (const host of hosts) await host.close();
    await new Promise((resolve) => sink?.close(resolve));
    await env?.stop();
  });

  const serve = async (fn: ReturnType<typeof compactorFunction>, withSink = false) => {
    const host = await startHost({
      fn,
      logger: silentLogger,
      port: 0,
      host: '127.0.0.1',
      ...(withSink ? { sink: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/` } : {}),
    });
    hosts.push(host);
    return host;
  };

  it('compactor: a compact tick compacts, expires and rewrites manifests, with reports and metrics', async () => {
    const host = await serve(compactorFunction(runtime, settings));
    const response = await post(host, ping('compact', { job: 'compact', rewrite: { 'min-input-files': '2' } }));
    expect(response.status).toBe(204);
    const reports = await readReports(env.catalog.io, env.catalog.warehouse);
    expect(reports.map((r) => r.job).sort()).toEqual(['compact', 'expire', 'manifests']);
    const compact = reports.find((r) => r.job === 'compact')!;
    expect(compact).toMatchObject({ dryRun: false, errors: [], filesBefore: 24, deleted: 24 });
    expect(compact.filesAfter).toBe(4);
    expect(compact.tables).toEqual([expect.objectContaining({ table: 'db.events', outcome: 'committed' })]);
    const metrics = await (await fetch(`${host.url}/metrics`)).text();
    expect(metrics).toMatch(/floe_maintenance_runs_total\{job="compact",outcome="ok",function="compactor"\} 1/);
    expect(metrics).toMatch(/floe_maintenance_files\{job="compact",when="after",function="compactor"\} 4/);
    expect(metrics).toMatch(/floe_maintenance_deleted_total\{job="compact",function="compactor"\} 24/);
  });

  it('compactor: an expire tick expires snapshots only, with the age the tick gives', async () => {
    await appendRows(env.catalog, 'db.events', eventRows(900, 3));
    const before = (await loadTable(env.catalog, 'main', 'db.events'))!.metadata;
    const host = await serve(compactorFunction(runtime, settings));
    const reportsBefore = await readReports(env.catalog.io, env.catalog.warehouse);
    expect((await post(host, ping('expire', { job: 'expire', olderThan: '0s' }))).status).toBe(204);
    const reports = await readReports(env.catalog.io, env.catalog.warehouse);
    expect(reports.length - reportsBefore.length).toBe(1);
    const [expire] = await readReports(env.catalog.io, env.catalog.warehouse, { job: 'expire' });
    expect(expire).toMatchObject({ dryRun: false, errors: [] });
    const after = (await loadTable(env.catalog, 'main', 'db.events'))!.metadata;
    expect(before.snapshots.length).toBeGreaterThan(1);
    expect(after.snapshots.map((s) => s.snapshotId)).toEqual([before.currentSnapshotId]);
  });

  it('compactor: refuses a job it does not run (422) and data it does not know (400)', async () => {
    const host = await serve(compactorFunction(runtime, settings));
    expect((await post(host, ping('orphans'))).status).toBe(422);
    expect((await post(host, ping('compact', { job: 'compact', tables: 'all' }))).status).toBe(400);
    expect((await post(host, ping('compact', { job: 'orphans' }))).status).toBe(400);
    expect((await post(host, createEvent({ type: 'dev.floe.batch.written', source: '/x', data: {} }))).status).toBe(
      400,
    );
  });

  it('janitor: redrive re-emits a stalled batch to the sink; orphans runs a dry run on request', async () => {
    const written = await writeBatch(env.wap, 'parking-entry', [entry(0, 0)]);
    const host = await serve(janitorFunction(runtime, settings), true);
    expect((await post(host, ping('redrive'))).status).toBe(204);
    expect(received.map((e) => [e.attributes.type, e.attributes.nessiebranch, e.attributes.nessiehash])).toEqual([
      [EventType.batchWritten, written.branch, written.hash],
    ]);

    const table = await loadTable(env.catalog, 'main', 'db.events');
    const [aborted] = await writeRows(env.catalog.io, table!.metadata, eventRows(1000, 5));
    expect((await post(host, ping('orphans', { job: 'orphans', dryRun: true, olderThan: '0s' }))).status).toBe(204);
    const [orphans] = await readReports(env.catalog.io, env.catalog.warehouse, { job: 'orphans' });
    expect(orphans).toMatchObject({
      dryRun: true,
      deleted: 0,
      errors: [],
      details: { orphans: expect.arrayContaining([expect.objectContaining({ location: aborted.filePath })]) },
    });
    expect(await env.catalog.io.head(aborted.filePath)).toBeDefined();
    const metrics = await (await fetch(`${host.url}/metrics`)).text();
    expect(metrics).toMatch(/floe_batches_redriven_total\{function="janitor"\} 1/);
  });
});
