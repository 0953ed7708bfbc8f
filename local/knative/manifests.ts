/**
 * The pipeline's routing, schedules and function settings, read from the Knative manifests in `knative/` — the
 * same files a cluster gets — so the local stack cannot drift from production. Plain YAML (no kubectl): the base
 * kustomization's `resources` and `configMapGenerator` are followed; anything that would change the objects
 * (patches, name prefixes, …) is refused, because the loader would not apply it.
 *
 * `parseManifests` turns parsed documents into typed objects (pure); `loadManifests` reads a kustomization dir.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { FILTER_DIALECTS, type FilterExpression } from './filters.ts';
import { parseIsoDuration } from './duration.ts';

/** The base manifests of this repository. */
export const KNATIVE_DIR = fileURLToPath(new URL('../../knative/', import.meta.url));

export interface DeliverySpec {
  /** Attempts after the first. */
  retry?: number;
  backoffPolicy?: 'linear' | 'exponential';
  backoffDelayMs?: number;
  /** Per-attempt timeout. */
  timeoutMs?: number;
  /** Name of the Knative Service that receives what could not be delivered. */
  deadLetterSink?: string;
}

export type Sink =
  { kind: 'Service'; name: string; path?: string } | { kind: 'Broker'; name: string } | { kind: 'URI'; uri: string };

export interface Broker {
  name: string;
  /** `eventing.knative.dev/broker.class` (Kafka, MTChannelBasedBroker, …). */
  brokerClass: string | undefined;
  delivery: DeliverySpec | undefined;
  /** Name of the ConfigMap in `spec.config` (the Kafka Broker's topic settings), when it is one. */
  configMap?: string;
}

export interface Trigger {
  name: string;
  broker: string;
  /** AND-ed; from `spec.filters`, or the legacy `spec.filter.attributes` when `filters` is empty. */
  filters: FilterExpression[];
  /** Name of the subscribed Knative Service. */
  subscriber: string;
  /** Relative path appended to the subscriber's address (`subscriber.uri`). */
  subscriberPath: string | undefined;
  delivery: DeliverySpec | undefined;
  annotations: Record<string, string>;
}

export interface PingSource {
  name: string;
  schedule: string;
  timezone: string | undefined;
  contentType: string | undefined;
  data: string | undefined;
  dataBase64: string | undefined;
  /** `ceOverrides.extensions`: added to every tick's event. */
  extensions: Record<string, string>;
  sink: Sink;
}

export interface KafkaSource {
  name: string;
  topics: string[];
  bootstrapServers: string[];
  consumerGroup: string | undefined;
  initialOffset: 'earliest' | 'latest';
  ordering: 'ordered' | 'unordered';
  delivery: DeliverySpec | undefined;
  extensions: Record<string, string>;
  sink: Sink;
}

export interface EnvSource {
  configMap?: string;
  secret?: string;
  optional: boolean;
}

export interface FunctionService {
  name: string;
  /** `FLOE_FUNCTION`: which handler the shared image runs. */
  function: string | undefined;
  image: string;
  /** Literal `env` values of the container (values from Secrets/ConfigMap keys are not resolved). */
  env: Record<string, string>;
  envFrom: EnvSource[];
  /** Hard in-flight limit per pod; 0 = unlimited. */
  containerConcurrency: number;
  timeoutSeconds: number;
  scaling: {
    autoscalingClass: string;
    metric: string | undefined;
    target: number | undefined;
    minScale: number;
    maxScale: number;
  };
}

export interface SinkBinding {
  name: string;
  /** Name of the Knative Service that gets `K_SINK`. */
  subject: string;
  sink: Sink;
}

export interface Manifests {
  brokers: Broker[];
  triggers: Trigger[];
  pingSources: PingSource[];
  kafkaSources: KafkaSource[];
  services: FunctionService[];
  sinkBindings: SinkBinding[];
  /** ConfigMaps by name (generated ones under their base name, without kustomize's hash suffix). */
  configMaps: Record<string, Record<string, string>>;
}

export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

/** Knative's defaults when a Service leaves them out (config-defaults, config-autoscaler). */
const SERVICE_DEFAULTS = {
  timeoutSeconds: 300,
  containerConcurrency: 0,
  autoscalingClass: 'kpa.autoscaling.knative.dev',
};

// ---------------------------------------------------------------------------------------------------------------
// Loading

/** Reads a kustomization directory (default: the repository's `knative/`) into typed manifests. */
export async function loadManifests(dir: string = KNATIVE_DIR): Promise<Manifests> {
  return parseManifests(await readKustomization(dir));
}

const LOADER_KEYS = new Set([
  'apiVersion',
  'kind',
  'resources',
  'configMapGenerator',
  'labels',
  'commonLabels',
  'commonAnnotations',
  'configurations',
  'generatorOptions',
]);

/** The documents a plain kustomization builds, without hash suffixes. */
export async function readKustomization(dir: string): Promise<unknown[]> {
  const file = path.join(dir, 'kustomization.yaml');
  const kustomization = asRecord(parseYamlDocuments(await readFile(file, 'utf8'), file)[0], file);
  const unsupported = Object.keys(kustomization).filter((key) => !LOADER_KEYS.has(key));
  if (unsupported.length) {
    throw new ManifestError(
      `${file}: ${unsupported.join(', ')} would change the objects but the loader does not apply it`,
    );
  }
  const documents: unknown[] = [];
  for (const entry of stringList(kustomization.resources, `${file}: resources`)) {
    const target = path.resolve(dir, entry);
    if ((await stat(target)).isDirectory()) documents.push(...(await readKustomization(target)));
    else documents.push(...parseYamlDocuments(await readFile(target, 'utf8'), target));
  }
  for (const generator of list(kustomization.configMapGenerator, `${file}: configMapGenerator`)) {
    documents.push(await generateConfigMap(asRecord(generator, `${file}: configMapGenerator`), dir));
  }
  return documents;
}

export function parseYamlDocuments(text: string, where: string): unknown[] {
  const documents = parseAllDocuments(text);
  const all = Array.isArray(documents) ? documents : [documents];
  const result: unknown[] = [];
  for (const document of all) {
    if (document.errors.length) throw new ManifestError(`${where}: ${document.errors[0].message}`);
    const value = document.toJS();
    if (value !== null && value !== undefined) result.push(value);
  }
  return result;
}

async function generateConfigMap(generator: Record<string, unknown>, dir: string): Promise<unknown> {
  const name = requireString(generator.name, 'configMapGenerator.name');
  const data: Record<string, string> = {};
  for (const literal of stringList(generator.literals, `configMapGenerator ${name}: literals`)) {
    const [key, value] = splitAssignment(literal, `configMapGenerator ${name}`);
    data[key] = value;
  }
  for (const entry of stringList(generator.files, `configMapGenerator ${name}: files`)) {
    const [key, file] = entry.includes('=')
      ? splitAssignment(entry, `configMapGenerator ${name}`)
      : [path.basename(entry), entry];
    data[key] = await readFile(path.resolve(dir, file), 'utf8');
  }
  for (const file of stringList(generator.envs, `configMapGenerator ${name}: envs`)) {
    for (const line of (await readFile(path.resolve(dir, file), 'utf8')).split('\n')) {
      if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
      const [key, value] = splitAssignment(line.trim(), `configMapGenerator ${name} (${file})`);
      data[key] = value;
    }
  }
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data };
}

function splitAssignment(text: string, where: string): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0) throw new ManifestError(`${where}: expected KEY=VALUE, got ${JSON.stringify(text)}`);
  return [text.slice(0, at), text.slice(at + 1)];
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

/** Typed view of Kubernetes documents; kinds other than the ones floe routes with are ignored. */
export function parseManifests(documents: readonly unknown[]): Manifests {
  const manifests: Manifests = {
    brokers: [],
    triggers: [],
    pingSources: [],
    kafkaSources: [],
    services: [],
    sinkBindings: [],
    configMaps: {},
  };
  for (const document of documents) {
    const object = asRecord(document, 'manifest');
    const kind = `${String(object.apiVersion).split('/')[0]}/${String(object.kind)}`;
    const name = requireString(
      asRecord(object.metadata, `${object.kind}: metadata`).name,
      `${object.kind}: metadata.name`,
    );
    const where = `${object.kind} ${name}`;
    switch (kind) {
      case 'eventing.knative.dev/Broker':
        manifests.brokers.push(parseBroker(object, name, where));
        break;
      case 'eventing.knative.dev/Trigger':
        manifests.triggers.push(parseTrigger(object, name, where));
        break;
      case 'sources.knative.dev/PingSource':
        manifests.pingSources.push(parsePingSource(object, name, where));
        break;
      case 'sources.knative.dev/KafkaSource':
        manifests.kafkaSources.push(parseKafkaSource(object, name, where));
        break;
      case 'sources.knative.dev/SinkBinding':
        manifests.sinkBindings.push(parseSinkBinding(object, name, where));
        break;
      case 'serving.knative.dev/Service':
        manifests.services.push(parseService(object, name, where));
        break;
      case 'v1/ConfigMap':
        manifests.configMaps[name] = stringMap(object.data, `${where}: data`);
        break;
      default:
        break;
    }
  }
  return manifests;
}

function parseBroker(object: Record<string, unknown>, name: string, where: string): Broker {
  const spec = optionalRecord(object.spec, `${where}: spec`);
  const config = optionalRecord(spec.config, `${where}: spec.config`);
  return {
    name,
    brokerClass: annotations(object, where)['eventing.knative.dev/broker.class'],
    delivery: parseDelivery(spec.delivery, `${where}: spec.delivery`),
    ...(config.kind === 'ConfigMap' && typeof config.name === 'string' ? { configMap: config.name } : {}),
  };
}

function parseTrigger(object: Record<string, unknown>, name: string, where: string): Trigger {
  const spec = asRecord(object.spec, `${where}: spec`);
  const subscriber = asRecord(spec.subscriber, `${where}: spec.subscriber`);
  if (subscriber.ref === undefined)
    throw new ManifestError(`${where}: spec.subscriber.ref must name a Knative Service`);
  const filters = list(spec.filters, `${where}: spec.filters`).map((entry, i) =>
    parseFilter(entry, `${where}: spec.filters[${i}]`),
  );
  const legacy = optionalRecord(spec.filter, `${where}: spec.filter`).attributes;
  if (filters.length === 0 && legacy !== undefined)
    filters.push({ attributes: stringMap(legacy, `${where}: spec.filter.attributes`) });
  return {
    name,
    broker: requireString(spec.broker, `${where}: spec.broker`),
    filters,
    subscriber: serviceRef(subscriber.ref, `${where}: spec.subscriber.ref`),
    subscriberPath: optionalString(subscriber.uri, `${where}: spec.subscriber.uri`),
    delivery: parseDelivery(spec.delivery, `${where}: spec.delivery`),
    annotations: annotations(object, where),
  };
}

/** One `filters` entry: exactly one dialect (Knative's webhook rejects more). */
export function parseFilter(entry: unknown, where: string): FilterExpression {
  const record = asRecord(entry, where);
  const keys = Object.keys(record);
  const unknown = keys.filter((key) => !(FILTER_DIALECTS as readonly string[]).includes(key));
  if (unknown.length) throw new ManifestError(`${where}: unknown filter dialect ${unknown.join(', ')}`);
  if (keys.length !== 1)
    throw new ManifestError(
      `${where}: exactly one dialect per filter entry, found ${keys.length ? keys.join(', ') : 'none'}`,
    );
  const dialect = keys[0] as (typeof FILTER_DIALECTS)[number];
  const body = record[dialect];
  switch (dialect) {
    case 'exact':
      return { exact: stringMap(body, `${where}.exact`) };
    case 'prefix':
      return { prefix: stringMap(body, `${where}.prefix`) };
    case 'suffix':
      return { suffix: stringMap(body, `${where}.suffix`) };
    case 'all':
      return { all: list(body, `${where}.all`).map((nested, i) => parseFilter(nested, `${where}.all[${i}]`)) };
    case 'any':
      return { any: list(body, `${where}.any`).map((nested, i) => parseFilter(nested, `${where}.any[${i}]`)) };
    case 'not':
      return { not: parseFilter(body, `${where}.not`) };
    case 'cesql':
      return { cesql: requireString(body, `${where}.cesql`) };
  }
}

function parsePingSource(object: Record<string, unknown>, name: string, where: string): PingSource {
  const spec = asRecord(object.spec, `${where}: spec`);
  return {
    name,
    schedule: optionalString(spec.schedule, `${where}: spec.schedule`) ?? '* * * * *',
    timezone: optionalString(spec.timezone, `${where}: spec.timezone`),
    contentType: optionalString(spec.contentType, `${where}: spec.contentType`),
    data: optionalString(spec.data, `${where}: spec.data`),
    dataBase64: optionalString(spec.dataBase64, `${where}: spec.dataBase64`),
    extensions: stringMap(
      optionalRecord(spec.ceOverrides, `${where}: spec.ceOverrides`).extensions,
      `${where}: spec.ceOverrides.extensions`,
    ),
    sink: parseSink(spec.sink, `${where}: spec.sink`),
  };
}

function parseKafkaSource(object: Record<string, unknown>, name: string, where: string): KafkaSource {
  const spec = asRecord(object.spec, `${where}: spec`);
  const initialOffset = optionalString(spec.initialOffset, `${where}: spec.initialOffset`) ?? 'latest';
  const ordering = optionalString(spec.ordering, `${where}: spec.ordering`) ?? 'ordered';
  if (initialOffset !== 'earliest' && initialOffset !== 'latest')
    throw new ManifestError(`${where}: spec.initialOffset must be earliest or latest`);
  if (ordering !== 'ordered' && ordering !== 'unordered')
    throw new ManifestError(`${where}: spec.ordering must be ordered or unordered`);
  return {
    name,
    topics: stringList(spec.topics, `${where}: spec.topics`),
    bootstrapServers: stringList(spec.bootstrapServers, `${where}: spec.bootstrapServers`),
    consumerGroup: optionalString(spec.consumerGroup, `${where}: spec.consumerGroup`),
    initialOffset,
    ordering,
    delivery: parseDelivery(spec.delivery, `${where}: spec.delivery`),
    extensions: stringMap(
      optionalRecord(spec.ceOverrides, `${where}: spec.ceOverrides`).extensions,
      `${where}: spec.ceOverrides.extensions`,
    ),
    sink: parseSink(spec.sink, `${where}: spec.sink`),
  };
}

function parseSinkBinding(object: Record<string, unknown>, name: string, where: string): SinkBinding {
  const spec = asRecord(object.spec, `${where}: spec`);
  return {
    name,
    subject: serviceRef(spec.subject, `${where}: spec.subject`),
    sink: parseSink(spec.sink, `${where}: spec.sink`),
  };
}

function parseService(object: Record<string, unknown>, name: string, where: string): FunctionService {
  const template = asRecord(asRecord(object.spec, `${where}: spec`).template, `${where}: spec.template`);
  const podSpec = asRecord(template.spec, `${where}: spec.template.spec`);
  const containers = list(podSpec.containers, `${where}: containers`);
  if (containers.length !== 1)
    throw new ManifestError(`${where}: expected exactly one container, found ${containers.length}`);
  const container = asRecord(containers[0], `${where}: containers[0]`);
  const env: Record<string, string> = {};
  for (const variable of list(container.env, `${where}: env`)) {
    const entry = asRecord(variable, `${where}: env[]`);
    if (entry.value === undefined) continue;
    if (typeof entry.value !== 'string')
      throw new ManifestError(`${where}: env ${entry.name}: value must be a string (quote numbers in YAML)`);
    env[requireString(entry.name, `${where}: env[].name`)] = entry.value;
  }
  const envFrom = list(container.envFrom, `${where}: envFrom`).map((source): EnvSource => {
    const entry = asRecord(source, `${where}: envFrom[]`);
    const ref = optionalRecord(entry.configMapRef ?? entry.secretRef, `${where}: envFrom[]`);
    const refName = requireString(ref.name, `${where}: envFrom[].name`);
    return { ...(entry.configMapRef ? { configMap: refName } : { secret: refName }), optional: ref.optional === true };
  });
  const templateAnnotations = stringMap(
    optionalRecord(template.metadata, `${where}: spec.template.metadata`).annotations,
    `${where}: template annotations`,
  );
  const scale = (key: string) => templateAnnotations[`autoscaling.knative.dev/${key}`];
  return {
    name,
    function: env.FLOE_FUNCTION,
    image: requireString(container.image, `${where}: image`),
    env,
    envFrom,
    containerConcurrency:
      optionalNumber(podSpec.containerConcurrency, `${where}: containerConcurrency`) ??
      SERVICE_DEFAULTS.containerConcurrency,
    timeoutSeconds:
      optionalNumber(podSpec.timeoutSeconds, `${where}: timeoutSeconds`) ?? SERVICE_DEFAULTS.timeoutSeconds,
    scaling: {
      autoscalingClass: scale('class') ?? SERVICE_DEFAULTS.autoscalingClass,
      metric: scale('metric'),
      target: scale('target') === undefined ? undefined : numeric(scale('target')!, `${where}: autoscaling target`),
      minScale: numeric(scale('min-scale') ?? '0', `${where}: min-scale`),
      maxScale: numeric(scale('max-scale') ?? '0', `${where}: max-scale`),
    },
  };
}

export function parseDelivery(value: unknown, where: string): DeliverySpec | undefined {
  if (value === undefined || value === null) return undefined;
  const spec = asRecord(value, where);
  const delivery: DeliverySpec = {};
  if (spec.retry !== undefined) delivery.retry = optionalNumber(spec.retry, `${where}.retry`);
  if (spec.backoffPolicy !== undefined) {
    const policy = requireString(spec.backoffPolicy, `${where}.backoffPolicy`);
    if (policy !== 'linear' && policy !== 'exponential')
      throw new ManifestError(`${where}.backoffPolicy must be linear or exponential, got ${policy}`);
    delivery.backoffPolicy = policy;
  }
  if (spec.backoffDelay !== undefined) delivery.backoffDelayMs = duration(spec.backoffDelay, `${where}.backoffDelay`);
  if (spec.timeout !== undefined) delivery.timeoutMs = duration(spec.timeout, `${where}.timeout`);
  if (spec.deadLetterSink !== undefined) {
    delivery.deadLetterSink = serviceRef(
      asRecord(spec.deadLetterSink, `${where}.deadLetterSink`).ref,
      `${where}.deadLetterSink.ref`,
    );
  }
  return delivery;
}

function parseSink(value: unknown, where: string): Sink {
  const sink = asRecord(value, where);
  if (sink.ref === undefined) return { kind: 'URI', uri: requireString(sink.uri, `${where}.uri`) };
  const ref = asRecord(sink.ref, `${where}.ref`);
  const name = requireString(ref.name, `${where}.ref.name`);
  if (ref.kind === 'Broker' && String(ref.apiVersion).startsWith('eventing.knative.dev/'))
    return { kind: 'Broker', name };
  if (ref.kind === 'Service' && String(ref.apiVersion).startsWith('serving.knative.dev/')) {
    const sinkPath = optionalString(sink.uri, `${where}.uri`);
    return sinkPath === undefined ? { kind: 'Service', name } : { kind: 'Service', name, path: sinkPath };
  }
  throw new ManifestError(
    `${where}.ref: only an eventing.knative.dev Broker or a serving.knative.dev Service is supported, got ${ref.apiVersion} ${ref.kind}`,
  );
}

function serviceRef(value: unknown, where: string): string {
  const ref = asRecord(value, where);
  if (ref.kind !== 'Service' || !String(ref.apiVersion).startsWith('serving.knative.dev/')) {
    throw new ManifestError(`${where} must reference a serving.knative.dev Service, got ${ref.apiVersion} ${ref.kind}`);
  }
  return requireString(ref.name, `${where}.name`);
}

// ---------------------------------------------------------------------------------------------------------------
// Delivery semantics

/**
 * The delivery a Trigger gets on the Kafka broker: its own fields, each missing one taken from the Broker's.
 * (floe's Triggers set every field, so the channel broker's whole-object fallback gives the same result.)
 */
export function effectiveTriggerDelivery(trigger: Trigger, broker: Broker | undefined): DeliverySpec {
  return { ...(broker?.delivery ?? {}), ...definedFields(trigger.delivery ?? {}) };
}

/**
 * The delivery a KafkaSource applies (eventing-kafka-broker): no `delivery` at all means 10 exponential retries from
 * 300 ms with a 600 s timeout; a `delivery` without `retry` means no retries; `retry` without `backoffDelay` waits
 * 200 ms.
 */
export function kafkaSourceDelivery(
  source: KafkaSource,
): Required<Omit<DeliverySpec, 'deadLetterSink'>> & Pick<DeliverySpec, 'deadLetterSink'> {
  const spec = source.delivery;
  if (spec === undefined) return { retry: 10, backoffPolicy: 'exponential', backoffDelayMs: 300, timeoutMs: 600_000 };
  return {
    retry: spec.retry ?? 0,
    backoffPolicy: spec.backoffPolicy ?? 'exponential',
    backoffDelayMs: spec.backoffDelayMs ?? 200,
    timeoutMs: spec.timeoutMs ?? 600_000,
    ...(spec.deadLetterSink ? { deadLetterSink: spec.deadLetterSink } : {}),
  };
}

/** Wait before retry `attempt` (1-based): linear delay×n, exponential delay×2ⁿ. */
export function retryDelayMs(delivery: DeliverySpec, attempt: number): number {
  const delay = delivery.backoffDelayMs ?? 0;
  return delivery.backoffPolicy === 'linear' ? delay * attempt : delay * 2 ** attempt;
}

function definedFields<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as Partial<T>;
}

// ---------------------------------------------------------------------------------------------------------------
// Small readers with errors that say where

function asRecord(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ManifestError(`${where}: expected a mapping`);
  return value as Record<string, unknown>;
}

function optionalRecord(value: unknown, where: string): Record<string, unknown> {
  return value === undefined || value === null ? {} : asRecord(value, where);
}

function list(value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ManifestError(`${where}: expected a list`);
  return value;
}

function stringList(value: unknown, where: string): string[] {
  return list(value, where).map((item) => requireString(item, where));
}

function requireString(value: unknown, where: string): string {
  if (typeof value !== 'string' || value === '') throw new ManifestError(`${where}: expected a non-empty string`);
  return value;
}

function optionalString(value: unknown, where: string): string | undefined {
  return value === undefined || value === null ? undefined : requireString(value, where);
}

function optionalNumber(value: unknown, where: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new ManifestError(`${where}: expected a number`);
  return value;
}

function numeric(text: string, where: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value))
    throw new ManifestError(`${where}: expected a number, got ${JSON.stringify(text)}`);
  return value;
}

function stringMap(value: unknown, where: string): Record<string, string> {
  const record = optionalRecord(value, where);
  for (const [key, item] of Object.entries(record)) {
    if (typeof item !== 'string') throw new ManifestError(`${where}.${key}: expected a string`);
  }
  return record as Record<string, string>;
}

function annotations(object: Record<string, unknown>, where: string): Record<string, string> {
  return stringMap(asRecord(object.metadata, `${where}: metadata`).annotations, `${where}: metadata.annotations`);
}

function duration(value: unknown, where: string): number {
  try {
    return parseIsoDuration(requireString(value, where));
  } catch (err) {
    throw new ManifestError(`${where}: ${(err as Error).message}`);
  }
}
