/**
 * A populated lakehouse for the dashboard tests, built with the real components: the embedded Nessie, a local
 * warehouse, the WAP steps (write → audit → publish) on `parking-entry`, a claim-check image stored by the tagger's
 * `storeBlob`, a dead-lettered event posted over HTTP to the real deadletter function, and a maintenance report
 * written by the maintenance report writer. The numbers below are what the dashboard must show.
 *
 *   batch A, partition 0: 30 records — 27 good (3 with a camera image), 1 latitude out of range, 1 car_id null,
 *            1 malformed → passed, published: 27 trusted, 3 untrusted
 *   batch B, partition 1: 25 good → published: 25 trusted
 *   batch C, partition 2: 20 records, 15 with latitude 99 → failed the gate, rejected: 20 untrusted, branch kept
 *   batch D, partition 3: 5 good → audited and left open (a test publishes it)
 */
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import type { BatchAudited, FileRef, TaggedRecord } from '../../shared/events/contract.ts';
import { storeBlob } from '../../functions/tagger/tagging.ts';
import { writeReport, type MaintenanceReport } from '../../shared/maintenance/run-report.ts';
import { startHost, type RunningHost } from '../../shared/runtime/function-host.ts';
import { auditBatch } from '../../functions/auditor/audit-step.ts';
import type { WapContext } from '../../shared/wap/wap-context.ts';
import { deadletterFunction } from '../../functions/deadletter/index.ts';
import { publishBatch } from '../../functions/publisher/publish-batch.ts';
import { writeBatch } from '../../functions/writer/write-batch.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

export const TOPIC = 'parking-entry';
/** The tests' own pipeline configuration (the product's may tighten its rules without moving these numbers). */
export const PIPELINE_CONFIG = fileURLToPath(new URL('./pipeline.yaml', import.meta.url));
export const TRUSTED = 'production.parking_entry';
export const UNTRUSTED = 'production.parking_entry_untrusted';

export const EXPECTED = {
  /** total-records of production.parking_entry after batch A, then B. */
  trustedHistory: [27, 52],
  /** total-records of production.parking_entry_untrusted after batch A, then C. */
  untrustedHistory: [3, 23],
  /** Untrusted rows per reason category (each counted once per row), largest first. */
  reasons: [
    { reason: 'batch', count: 20 },
    { reason: 'range', count: 16 },
    { reason: 'malformed', count: 1 },
    { reason: 'required', count: 1 },
  ],
  trustedFiles: 2,
  imageRows: 3,
  pendingRows: 5,
} as const;

export interface Lakehouse {
  stack: TestStack;
  ctx: WapContext;
  image: { bytes: Buffer; ref: FileRef };
  /** The batch left audited on its branch. */
  pending: BatchAudited;
  rejected: BatchAudited;
  published: BatchAudited[];
  /** The deadletter function's host, whose /metrics the dashboard reads. */
  deadletterHost: RunningHost;
  stop(): Promise<void>;
}

/** A 48×32 PNG with a gradient: real bytes a browser decodes, larger than the claim-check inline limit. */
export function testImage(): Buffer {
  const png = new PNG({ width: 48, height: 32 });
  for (let y = 0; y < png.height; y++) {
    for (let x = 0; x < png.width; x++) {
      const i = (png.width * y + x) << 2;
      png.data[i] = (x * 5) & 255;
      png.data[i + 1] = (y * 8) & 255;
      png.data[i + 2] = (x * y * 3) & 255;
      png.data[i + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}

function records(
  partition: number,
  count: number,
  eventTime: string,
  payloadFor: (offset: number) => Record<string, unknown> | 'malformed',
): TaggedRecord[] {
  return Array.from({ length: count }, (_, offset) => {
    const base = {
      topic: TOPIC,
      partition,
      offset: String(offset),
      key: `car-${offset}`,
      kafkaTime: eventTime,
      ingestedAt: new Date().toISOString(),
      source: '/apis/v1/namespaces/floe/kafkasources/parking#parking-entry',
      sourceId: `partition:${partition}/offset:${offset}`,
      table: 'parking_entry',
      headers: {},
    };
    const payload = payloadFor(offset);
    if (payload === 'malformed')
      return {
        ...base,
        status: 'malformed',
        error: 'value is not valid JSON',
        raw: Buffer.from('{oops').toString('base64'),
      };
    return {
      ...base,
      status: 'ok',
      payload: {
        event_id: `evt-${partition}-${offset}`,
        timestamp: eventTime,
        car_id: `B-${partition}${offset}`,
        slot: `A-${String(offset).padStart(3, '0')}`,
        latitude: 52.52,
        longitude: 13.405,
        ...payload,
      },
    };
  });
}

async function wapBatch(ctx: WapContext, batch: TaggedRecord[]): Promise<BatchAudited> {
  return auditBatch(ctx, await writeBatch(ctx, TOPIC, batch));
}

export async function populateLakehouse(): Promise<Lakehouse> {
  const stack = await startTestStack({ FLOE_CONFIG: PIPELINE_CONFIG });
  const ctx: WapContext = { catalog: stack.catalog, config: stack.env.pipeline, log: silentLogger };
  const eventTime = new Date(Date.now() - 60_000).toISOString();
  const bytes = testImage();
  const ref = await storeBlob(
    { config: stack.env.pipeline, io: stack.catalog.io, warehouse: stack.env.warehouse },
    'parking_entry',
    bytes,
    'image/png',
  );

  const a = await wapBatch(
    ctx,
    records(0, 30, eventTime, (offset) => {
      if (offset < 3) return { image: ref };
      if (offset === 27) return { latitude: 123 };
      if (offset === 28) return { car_id: null };
      if (offset === 29) return 'malformed';
      return {};
    }),
  );
  await publishBatch(ctx, a);
  const b = await wapBatch(
    ctx,
    records(1, 25, eventTime, () => ({})),
  );
  await publishBatch(ctx, b);
  const rejected = await wapBatch(
    ctx,
    records(2, 20, eventTime, (offset) => (offset < 15 ? { latitude: 99 } : {})),
  );
  if (rejected.verdict !== 'failed') throw new Error(`batch C should fail the gate, got ${rejected.verdict}`);
  await publishBatch(ctx, rejected);
  const pending = await wapBatch(
    ctx,
    records(3, EXPECTED.pendingRows, eventTime, () => ({})),
  );

  const deadletterHost = await startHost({
    fn: deadletterFunction(stack.runtime),
    logger: silentLogger,
    port: 0,
    host: '127.0.0.1',
  });
  const posted = await fetch(deadletterHost.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': 'parking-entry/0/99',
      'ce-source': '/floe/tagger',
      'ce-type': 'dev.floe.record.tagged',
      'ce-knativeerrordest': 'http://writer.floe.svc.cluster.local',
      'ce-knativeerrorcode': '500',
    },
    body: JSON.stringify({ topic: TOPIC }),
  });
  if (!posted.ok) throw new Error(`the deadletter function answered ${posted.status}`);

  const report: MaintenanceReport = {
    job: 'compact',
    startedAt: new Date(Date.now() - 5_000).toISOString(),
    durationMs: 1234,
    dryRun: false,
    filesBefore: 4,
    bytesBefore: 40_000,
    filesAfter: 1,
    bytesAfter: 36_000,
    bytesReclaimed: 0,
    deleted: 3,
    tables: [
      {
        table: TRUSTED,
        outcome: 'committed',
        filesBefore: 4,
        bytesBefore: 40_000,
        filesAfter: 1,
        bytesAfter: 36_000,
        removed: 3,
      },
    ],
    errors: [],
  };
  await writeReport(stack.catalog.io, stack.env.warehouse, report);
  // A report another writer botched: listed as unreadable, never breaking the view.
  await stack.catalog.io.write(
    `${stack.env.warehouse}_floe/maintenance/2020-01-01T00-00-00-000Z-orphans.json`,
    '{"job": "orph',
  );

  return {
    stack,
    ctx,
    image: { bytes, ref },
    pending,
    rejected,
    published: [a, b],
    deadletterHost,
    async stop() {
      await deadletterHost.close();
      await stack.stop();
    },
  };
}
