/**
 * The manifest loader the local stack uses (local/knative/manifests.ts): the real base in knative/, and the parsing
 * rules on small documents.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  effectiveTriggerDelivery,
  kafkaSourceDelivery,
  loadManifests,
  ManifestError,
  parseManifests,
  readKustomization,
  retryDelayMs,
  type KafkaSource,
} from '../../local/knative/manifests.ts';
import { parseIsoDuration } from '../../local/knative/duration.ts';
import { tempDir } from '../helpers/tmp.ts';

describe('the base manifests in knative/', () => {
  it('routes every consumed event type to its function', async () => {
    const manifests = await loadManifests();
    const routes = Object.fromEntries(manifests.triggers.map((trigger) => [trigger.name, trigger.subscriber]));
    // No Trigger for the tagger: the KafkaSources deliver to it themselves.
    expect(routes).toEqual({
      writer: 'writer',
      auditor: 'auditor',
      publisher: 'publisher',
      compactor: 'compactor',
      'compactor-expire': 'compactor',
      'janitor-orphans': 'janitor',
      'janitor-redrive': 'janitor',
      'janitor-tags': 'janitor',
    });
    expect(manifests.kafkaSources.map((source) => source.sink)).toEqual(
      Array(3).fill({ kind: 'Service', name: 'tagger' }),
    );
    const writer = manifests.triggers.find((trigger) => trigger.name === 'writer')!;
    expect(writer.broker).toBe('default');
    expect(writer.filters).toEqual([{ exact: { type: 'dev.floe.record.tagged' } }]);
    expect(writer.delivery).toEqual({
      retry: 5,
      backoffPolicy: 'exponential',
      backoffDelayMs: 1000,
      timeoutMs: 60_000,
      deadLetterSink: 'deadletter',
    });
  });

  it('reads the maintenance schedules with their job extension', async () => {
    const { pingSources } = await loadManifests();
    const byJob = Object.fromEntries(pingSources.map((source) => [source.extensions.floejob, source]));
    expect(Object.keys(byJob).sort()).toEqual(['compact', 'expire', 'orphans', 'redrive', 'tags']);
    expect(byJob.redrive).toMatchObject({
      schedule: '*/5 * * * *',
      timezone: 'Etc/UTC',
      contentType: 'application/json',
      sink: { kind: 'Broker', name: 'default' },
    });
    expect(JSON.parse(byJob.compact.data!)).toEqual({ job: 'compact' });
  });

  it('reads the functions with their settings and the generated ConfigMaps', async () => {
    const { services, configMaps, kafkaSources, brokers, sinkBindings } = await loadManifests();
    expect(services.map((service) => service.function).sort()).toEqual([
      'auditor',
      'compactor',
      'dashboard',
      'deadletter',
      'janitor',
      'publisher',
      'tagger',
      'writer',
    ]);
    const writer = services.find((service) => service.name === 'writer')!;
    expect(writer).toMatchObject({
      containerConcurrency: 1000,
      timeoutSeconds: 120,
      scaling: { minScale: 0, maxScale: 4 },
    });
    expect(writer.env).toMatchObject({ FLOE_BATCH_MAX_ROWS: '10000', FLOE_BATCH_LINGER_MS: '2000' });
    expect(writer.envFrom).toContainEqual({ secret: 'floe-nessie', optional: true });
    expect(configMaps['floe-config'].FLOE_CONFIG).toBe('/etc/floe/pipeline.yaml');
    expect(configMaps['floe-pipeline']['pipeline.yaml']).toMatch(/^# schema: see README, Configuration/);
    expect(kafkaSources.map((source) => [source.name, source.topics, source.consumerGroup, source.ordering])).toEqual([
      ['parking-entry', ['parking-entry'], 'floe-parking-entry', 'unordered'],
      ['parking-exit', ['parking-exit'], 'floe-parking-exit', 'unordered'],
      ['parking-sensors', ['parking-sensors'], 'floe-parking-sensors', 'unordered'],
    ]);
    expect(brokers).toEqual([expect.objectContaining({ name: 'default', brokerClass: 'Kafka' })]);
    expect(sinkBindings.map((binding) => binding.subject).sort()).toEqual(['janitor', 'tagger', 'writer']);
  });
});

describe('parsing', () => {
  const trigger = (spec: Record<string, unknown>) => ({
    apiVersion: 'eventing.knative.dev/v1',
    kind: 'Trigger',
    metadata: { name: 't' },
    spec,
  });
  const subscriber = { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'writer' } };

  it('normalizes the legacy filter.attributes, and lets filters override it', () => {
    const legacy = parseManifests([trigger({ broker: 'default', filter: { attributes: { type: 'x' } }, subscriber })]);
    expect(legacy.triggers[0].filters).toEqual([{ attributes: { type: 'x' } }]);
    const both = parseManifests([
      trigger({
        broker: 'default',
        filter: { attributes: { type: 'x' } },
        filters: [{ prefix: { type: 'y' } }],
        subscriber,
      }),
    ]);
    expect(both.triggers[0].filters).toEqual([{ prefix: { type: 'y' } }]);
  });

  it('refuses a filter entry with two dialects and a subscriber that is not a Knative Service', () => {
    expect(() =>
      parseManifests([
        trigger({ broker: 'default', filters: [{ exact: { type: 'x' }, suffix: { source: 'y' } }], subscriber }),
      ]),
    ).toThrow(/exactly one dialect per filter entry, found exact, suffix/);
    expect(() =>
      parseManifests([
        trigger({ broker: 'default', subscriber: { ref: { apiVersion: 'v1', kind: 'Service', name: 'x' } } }),
      ]),
    ).toThrow(ManifestError);
  });

  it('refuses delivery durations that are not ISO-8601', () => {
    expect(() => parseManifests([trigger({ broker: 'default', subscriber, delivery: { timeout: '30s' } })])).toThrow(
      /spec\.delivery\.timeout: not an ISO-8601 duration/,
    );
  });

  it('parses ISO-8601 durations into milliseconds', () => {
    expect(parseIsoDuration('PT0.5S')).toBe(500);
    expect(parseIsoDuration('PT1M30S')).toBe(90_000);
    expect(parseIsoDuration('PT2H')).toBe(7_200_000);
    expect(parseIsoDuration('P1DT1S')).toBe(86_401_000);
    for (const bad of ['P', 'PT', '30s', 'P1M', 'PT-1S']) expect(() => parseIsoDuration(bad)).toThrow(RangeError);
  });
});

describe('delivery semantics', () => {
  const source = (delivery: KafkaSource['delivery']): KafkaSource => ({
    name: 's',
    topics: ['t'],
    bootstrapServers: ['k:9092'],
    consumerGroup: 'g',
    initialOffset: 'latest',
    ordering: 'ordered',
    delivery,
    extensions: {},
    sink: { kind: 'Broker', name: 'default' },
  });

  it('applies the KafkaSource defaults of eventing-kafka-broker', () => {
    expect(kafkaSourceDelivery(source(undefined))).toEqual({
      retry: 10,
      backoffPolicy: 'exponential',
      backoffDelayMs: 300,
      timeoutMs: 600_000,
    });
    expect(kafkaSourceDelivery(source({ deadLetterSink: 'deadletter' }))).toMatchObject({
      retry: 0,
      deadLetterSink: 'deadletter',
    });
    expect(kafkaSourceDelivery(source({ retry: 3 }))).toMatchObject({ retry: 3, backoffDelayMs: 200 });
  });

  it('merges a Trigger delivery over the Broker one field by field', () => {
    const broker = {
      name: 'default',
      brokerClass: 'Kafka',
      delivery: { retry: 5, backoffDelayMs: 500, deadLetterSink: 'deadletter' },
    };
    const trigger = {
      name: 't',
      broker: 'default',
      filters: [],
      subscriber: 's',
      subscriberPath: undefined,
      annotations: {},
      delivery: { retry: 1, timeoutMs: 1000 },
    };
    expect(effectiveTriggerDelivery(trigger, broker)).toEqual({
      retry: 1,
      backoffDelayMs: 500,
      deadLetterSink: 'deadletter',
      timeoutMs: 1000,
    });
  });

  it('computes linear and exponential backoff', () => {
    expect([1, 2, 3].map((n) => retryDelayMs({ backoffPolicy: 'exponential', backoffDelayMs: 500 }, n))).toEqual([
      1000, 2000, 4000,
    ]);
    expect([1, 2, 3].map((n) => retryDelayMs({ backoffPolicy: 'linear', backoffDelayMs: 500 }, n))).toEqual([
      500, 1000, 1500,
    ]);
  });
});

describe('reading a kustomization', () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => cleanup?.());

  async function kustomization(files: Record<string, string>): Promise<string> {
    const temp = await tempDir('floe-kustomize');
    cleanup = temp.cleanup;
    for (const [name, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(temp.dir, name)), { recursive: true });
      await writeFile(path.join(temp.dir, name), text);
    }
    return temp.dir;
  }

  it('follows resources (files and directories) and generates ConfigMaps from literals, files and env files', async () => {
    const dir = await kustomization({
      'kustomization.yaml':
        'resources: [cm.yaml, sub]\nconfigMapGenerator:\n  - name: gen\n    literals: [A=1, B=x=y]\n    files: [conf.txt, renamed=conf.txt]\n    envs: [vars.env]\n',
      'cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\ndata: {k: v}\n---\n',
      'sub/kustomization.yaml': 'resources: [more.yaml]\n',
      'sub/more.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nested}\ndata: {}\n',
      'conf.txt': 'hello\n',
      'vars.env': '# comment\nC=3\n\n',
    });
    const { configMaps } = parseManifests(await readKustomization(dir));
    expect(configMaps).toEqual({
      plain: { k: 'v' },
      nested: {},
      gen: { A: '1', B: 'x=y', 'conf.txt': 'hello\n', renamed: 'hello\n', C: '3' },
    });
  });

  it('refuses a kustomization feature it would not apply (patches, name prefixes)', async () => {
    const dir = await kustomization({ 'kustomization.yaml': 'resources: []\nnamePrefix: x-\npatches: []\n' });
    await expect(readKustomization(dir)).rejects.toThrow(
      /namePrefix, patches would change the objects but the loader does not apply it/,
    );
  });

  it('reports YAML syntax errors with the file', async () => {
    const dir = await kustomization({ 'kustomization.yaml': 'resources: [bad.yaml]\n', 'bad.yaml': 'a: [1, 2\n' });
    await expect(readKustomization(dir)).rejects.toThrow(/bad\.yaml/);
  });
});
