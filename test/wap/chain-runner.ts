/**
 * The chain's real handlers in process, as the host and the Broker would drive them: Kafka records (raw value bytes)
 * → tagger → writer (group commit) → auditor → publisher. Each function's output is taken from its reply or from
 * what it emits to its sink, whichever it uses.
 */
import { fromHttp, type CloudEventMessage } from '../../shared/events/cloudevent.ts';
import type { FloeFunction, FunctionContext } from '../../shared/runtime/function-host.ts';
import { createFunctionMetrics } from '../../shared/runtime/prometheus.ts';
import type { Runtime } from '../../shared/runtime/runtime.ts';
import { taggerFunction } from '../../functions/tagger/index.ts';
import { writerFunction } from '../../functions/writer/index.ts';
import { auditorFunction } from '../../functions/auditor/index.ts';
import { publisherFunction } from '../../functions/publisher/index.ts';
import { silentLogger } from '../helpers/silent-logger.ts';

export interface KafkaRecord {
  topic: string;
  partition: number;
  offset: number;
  value: Uint8Array;
  key?: string;
  headers?: Record<string, string>;
  contentType?: string;
  /** Delivered in structured mode (the attributes as JSON, the value as `data_base64`), which can carry any string. */
  structured?: boolean;
}

/** A KafkaSource delivery of one record (binary mode, as the KafkaSource posts it). */
export function kafkaEvent(record: KafkaRecord): CloudEventMessage {
  const headers: Record<string, string> = {
    'ce-specversion': '1.0',
    'ce-id': `partition:${record.partition}/offset:${record.offset}`,
    'ce-type': 'dev.knative.kafka.event',
    'ce-source': `/apis/v1/namespaces/floe/kafkasources/src#${record.topic}`,
    'ce-time': new Date().toISOString(),
    'ce-knativekafkapartition': String(record.partition),
    'ce-knativekafkaoffset': String(record.offset),
    'ce-floekafkatopic': record.topic,
    'content-type': record.contentType ?? 'application/json',
  };
  if (record.key !== undefined) {
    headers['ce-key'] = record.key;
    headers['ce-partitionkey'] = record.key;
  }
  for (const [name, value] of Object.entries(record.headers ?? {})) headers[`ce-kafkaheader${name}`] = value;
  if (record.structured) {
    const attributes = Object.fromEntries(
      Object.entries(headers)
        .filter(([n]) => n.startsWith('ce-'))
        .map(([n, v]) => [n.slice(3), v]),
    );
    const body = JSON.stringify({
      ...attributes,
      datacontenttype: headers['content-type'],
      data_base64: Buffer.from(record.value).toString('base64'),
    });
    return fromHttp({ 'content-type': 'application/cloudevents+json' }, Buffer.from(body));
  }
  // the HTTP binding percent-encodes what a header cannot carry, and `%` itself
  const encoded = Object.fromEntries(
    Object.entries(headers).map(([n, v]) => [
      n,
      n.startsWith('ce-') ? v.replace(/[^\x20-\x24\x26-\x7e]/g, encodeURIComponent) : v,
    ]),
  );
  return fromHttp(encoded, record.value);
}

/** One function with the context a host gives it; what it emits goes to the current delivery's output. */
export function driven(fn: FloeFunction) {
  let sink: CloudEventMessage[] = [];
  // One context for the function's life: the writer keeps the first `emit` it sees for the batches it closes later.
  const context: FunctionContext = {
    log: silentLogger,
    metrics: createFunctionMetrics(fn.name, { defaultMetrics: false }),
    emit: async (e) => void sink.push(e),
  };
  return {
    /** Sends events concurrently; collects replies and emitted events, and the failures. */
    async deliver(events: CloudEventMessage[]): Promise<{ out: CloudEventMessage[]; failures: unknown[] }> {
      const out: CloudEventMessage[] = [];
      const failures: unknown[] = [];
      sink = out;
      await Promise.all(
        events.map(async (event) => {
          try {
            const reply = await fn.handle(context, event);
            if (reply) out.push(reply);
          } catch (err) {
            failures.push(err);
          }
        }),
      );
      return { out, failures };
    },
  };
}

export interface ChainResult {
  tagged: CloudEventMessage[];
  written: CloudEventMessage[];
  audited: CloudEventMessage[];
  outcomes: CloudEventMessage[];
  /** Every handler error, per function: with per-record isolation there are none. */
  failures: Record<'tagger' | 'writer' | 'auditor' | 'publisher', unknown[]>;
}

/** The four functions of the chain on one runtime; `run` takes records through all of them, one step after the other. */
export function chainOf(runtime: Runtime) {
  const tagger = driven(taggerFunction(runtime));
  const writer = driven(writerFunction(runtime));
  const auditor = driven(auditorFunction(runtime));
  const publisher = driven(publisherFunction(runtime));
  return {
    async run(records: KafkaRecord[]): Promise<ChainResult> {
      const tagged = await tagger.deliver(records.map(kafkaEvent));
      const written = await writer.deliver(tagged.out);
      const audited = await auditor.deliver(written.out);
      const published = await publisher.deliver(audited.out);
      return {
        tagged: tagged.out,
        written: written.out,
        audited: audited.out,
        outcomes: published.out,
        failures: {
          tagger: tagged.failures,
          writer: written.failures,
          auditor: audited.failures,
          publisher: published.failures,
        },
      };
    },
  };
}
