/**
 * Checks across the objects of one render: references resolve (Broker, subscribers, dead-letter sinks, ConfigMaps
 * and Secrets — including kustomize's hash-suffixed names), every event the pipeline produces reaches exactly the
 * function the contract says (and terminal events reach none), every PingSource reaches its function, every Trigger
 * matches something, and delivery timeouts fit the functions they call.
 *
 * Routing is checked by evaluating the Triggers' filters (the same evaluator the local broker uses) against sample
 * events shaped like the real ones: PingSource ticks and what each function emits. KafkaSource records do not enter
 * the Broker: every KafkaSource sinks into the tagger itself.
 */
import { parse as parseYaml } from 'yaml';
import { matchesFilters, UnsupportedFilterError } from '../../local/knative/filters.ts';
import {
  effectiveTriggerDelivery,
  ManifestError,
  parseManifests,
  type FunctionService,
  type Manifests,
  type Sink,
  type Trigger,
} from '../../local/knative/manifests.ts';
import {
  CONSUMER_OF,
  DEAD_LETTER_SINK,
  EMITS,
  FUNCTIONS,
  HEALTH_PATHS,
  IMAGE,
  KAFKA_EVENT_CONSUMER,
  PING_JOBS,
  WRITER,
  WRITER_LINGER_ENV,
  emittedSample,
  pingSample,
  type FunctionName,
} from './contract.ts';
import { Extension } from '../../shared/events/contract.ts';
import { ConfigError, parsePipelineConfig } from '../../shared/runtime/pipeline-config.ts';
import { groupKind, problem, type K8sObject, type Problem } from './problem.ts';

export interface CrossCheckOptions {
  /** Secrets that are deliberately not in the render (supplied out of band, e.g. in prod). */
  externalSecrets?: readonly string[];
}

export function crossReferenceProblems(objects: readonly K8sObject[], options: CrossCheckOptions = {}): Problem[] {
  let manifests: Manifests;
  try {
    manifests = parseManifests(objects);
  } catch (err) {
    if (err instanceof ManifestError)
      return [problem('render', '', `not readable by local/knative/manifests.ts: ${err.message}`)];
    throw err;
  }
  const context: Context = {
    objects,
    manifests,
    externalSecrets: new Set(options.externalSecrets ?? []),
    pipelineFiles: new Map(),
    problems: [],
  };
  referenceChecks(context);
  configChecks(context);
  pipelineChecks(context);
  functionChecks(context);
  routingChecks(context);
  deliveryChecks(context);
  return context.problems;
}

interface Context {
  objects: readonly K8sObject[];
  manifests: Manifests;
  externalSecrets: Set<string>;
  /** The pipeline configuration files the Services mount (`ConfigMap/name key` → text). */
  pipelineFiles: Map<string, string>;
  problems: Problem[];
}

function find(context: Context, kind: string, name: string | undefined): K8sObject | undefined {
  return context.objects.find((object) => groupKind(object) === kind && object.metadata?.name === name);
}

function report(context: Context, object: string, path: string, message: string): void {
  context.problems.push(problem(object, path, message));
}

// ---------------------------------------------------------------------------------------------------------------

function referenceChecks(context: Context): void {
  const { manifests } = context;
  const services = new Set(manifests.services.map((service) => service.name));
  const brokers = new Set(manifests.brokers.map((broker) => broker.name));
  const sinkExists = (sink: Sink) =>
    sink.kind === 'Broker' ? brokers.has(sink.name) : sink.kind === 'Service' ? services.has(sink.name) : true;
  const dls = (object: string, path: string, name: string | undefined) => {
    if (name !== undefined && !services.has(name))
      report(context, object, path, `dead-letter sink Service "${name}" is not in the render`);
  };
  for (const trigger of manifests.triggers) {
    const id = `Trigger/${trigger.name}`;
    if (!brokers.has(trigger.broker))
      report(context, id, 'spec.broker', `Broker "${trigger.broker}" is not in the render`);
    if (!services.has(trigger.subscriber))
      report(context, id, 'spec.subscriber.ref', `subscriber Service "${trigger.subscriber}" is not in the render`);
    dls(id, 'spec.delivery.deadLetterSink', trigger.delivery?.deadLetterSink);
  }
  for (const broker of manifests.brokers) {
    const id = `Broker/${broker.name}`;
    dls(id, 'spec.delivery.deadLetterSink', broker.delivery?.deadLetterSink);
    const brokerObject = find(context, 'eventing.knative.dev/Broker', broker.name);
    const config = brokerObject?.spec?.config;
    // A config in another namespace is the cluster's (the channel Broker's template lives with Knative Eventing).
    const inRender = config?.namespace === undefined || config.namespace === brokerObject?.metadata?.namespace;
    if (config?.kind === 'ConfigMap' && inRender) {
      const configMap = find(context, 'v1/ConfigMap', config.name);
      if (!configMap) report(context, id, 'spec.config', `ConfigMap "${config.name}" is not in the render`);
      else if (broker.brokerClass?.startsWith('Kafka') && !configMap.data?.['bootstrap.servers'])
        report(context, id, 'spec.config', `ConfigMap "${config.name}" has no bootstrap.servers`);
      const authSecret = configMap?.data?.['auth.secret.ref.name'];
      if (authSecret) secretMustExist(context, id, 'spec.config (auth.secret.ref.name)', authSecret);
    }
  }
  for (const source of [
    ...manifests.kafkaSources.map((s) => ({ kind: 'KafkaSource', ...s })),
    ...manifests.pingSources.map((s) => ({ kind: 'PingSource', ...s })),
  ]) {
    if (!sinkExists(source.sink))
      report(
        context,
        `${source.kind}/${source.name}`,
        'spec.sink',
        `sink ${source.sink.kind} "${'name' in source.sink ? source.sink.name : ''}" is not in the render`,
      );
  }
  for (const source of manifests.kafkaSources) {
    dls(`KafkaSource/${source.name}`, 'spec.delivery.deadLetterSink', source.delivery?.deadLetterSink);
    const net = find(context, 'sources.knative.dev/KafkaSource', source.name)?.spec?.net ?? {};
    for (const [part, settings] of Object.entries<Record<string, any>>(net)) {
      for (const [field, value] of Object.entries(settings ?? {})) {
        const secret = value?.secretKeyRef?.name;
        if (secret) secretMustExist(context, `KafkaSource/${source.name}`, `spec.net.${part}.${field}`, secret);
      }
    }
  }
  for (const binding of manifests.sinkBindings) {
    const id = `SinkBinding/${binding.name}`;
    if (!services.has(binding.subject))
      report(context, id, 'spec.subject', `subject Service "${binding.subject}" is not in the render`);
    if (!sinkExists(binding.sink)) report(context, id, 'spec.sink', 'sink is not in the render');
  }
}

function secretMustExist(context: Context, object: string, path: string, name: string): void {
  if (!find(context, 'v1/Secret', name) && !context.externalSecrets.has(name)) {
    report(context, object, path, `Secret "${name}" is neither in the render nor declared as supplied out of band`);
  }
}

/** ConfigMaps/Secrets a Service reads exist under their rendered (hash-suffixed) names; FLOE_CONFIG is mounted. */
function configChecks(context: Context): void {
  for (const service of serviceObjects(context)) {
    const id = `Service/${service.metadata.name}`;
    const podSpec = service.spec?.template?.spec ?? {};
    const container = podSpec.containers?.[0] ?? {};
    const environment: Record<string, string> = {};
    for (const [i, source] of (container.envFrom ?? []).entries()) {
      const path = `spec.template.spec.containers[0].envFrom[${i}]`;
      if (source.configMapRef) {
        const configMap = find(context, 'v1/ConfigMap', source.configMapRef.name);
        if (configMap) Object.assign(environment, configMap.data);
        else if (!source.configMapRef.optional)
          report(context, id, path, `ConfigMap "${source.configMapRef.name}" is not in the render`);
      }
      if (source.secretRef && !source.secretRef.optional) secretMustExist(context, id, path, source.secretRef.name);
    }
    for (const [i, variable] of (container.env ?? []).entries()) {
      if (variable.value !== undefined) environment[variable.name] = variable.value;
      const secretRef = variable.valueFrom?.secretKeyRef;
      if (secretRef && !secretRef.optional)
        secretMustExist(context, id, `spec.template.spec.containers[0].env[${i}]`, secretRef.name);
    }
    const mounted = new Map<string, K8sObject | undefined>();
    for (const [i, volume] of (podSpec.volumes ?? []).entries()) {
      if (!volume.configMap) continue;
      const configMap = find(context, 'v1/ConfigMap', volume.configMap.name);
      if (!configMap && !volume.configMap.optional)
        report(
          context,
          id,
          `spec.template.spec.volumes[${i}]`,
          `ConfigMap "${volume.configMap.name}" is not in the render`,
        );
      const mount = (container.volumeMounts ?? []).find((m: K8sObject) => m.name === volume.name);
      if (mount) mounted.set(String(mount.mountPath).replace(/\/$/, ''), configMap);
    }
    const configFile = environment.FLOE_CONFIG;
    if (!configFile) {
      report(context, id, 'env', 'FLOE_CONFIG is not set (floe-config ConfigMap)');
      continue;
    }
    const directory = configFile.slice(0, configFile.lastIndexOf('/'));
    const key = configFile.slice(configFile.lastIndexOf('/') + 1);
    const configMap = mounted.get(directory);
    if (!mounted.has(directory))
      report(
        context,
        id,
        'spec.template.spec.volumes',
        `FLOE_CONFIG=${configFile} but no ConfigMap is mounted at ${directory}`,
      );
    else if (configMap && configMap.data?.[key] === undefined)
      report(context, id, 'spec.template.spec.volumes', `the ConfigMap mounted at ${directory} has no key ${key}`);
    else if (configMap) context.pipelineFiles.set(`ConfigMap/${configMap.metadata.name} ${key}`, configMap.data[key]);
  }
}

/** The mounted pipeline configuration is valid for the functions and configures exactly the topics that are read. */
function pipelineChecks(context: Context): void {
  const read = new Set(context.manifests.kafkaSources.flatMap((source) => source.topics));
  for (const [where, text] of context.pipelineFiles) {
    let topics: string[];
    try {
      topics = Object.keys(parsePipelineConfig(parseYaml(text), where).topics);
    } catch (err) {
      if (!(err instanceof ConfigError) && !(err instanceof Error && err.name === 'YAMLParseError')) throw err;
      report(context, where, '', (err as Error).message);
      continue;
    }
    for (const topic of read)
      if (!topics.includes(topic))
        report(
          context,
          where,
          'topics',
          `KafkaSource topic ${topic} has no entry (its rows would get no table settings and no audit rules)`,
        );
    for (const topic of topics)
      if (!read.has(topic))
        report(context, where, `topics.${topic}`, 'configured, but no KafkaSource reads this topic');
  }
}

/** `registry/repo[:tag][@digest]`; a colon before the last slash belongs to a registry port. */
function imageReference(image: string): { name: string; tag?: string; digest?: string } {
  const [withTag, digest] = image.split('@');
  const colon = withTag.lastIndexOf(':');
  const hasTag = colon > withTag.lastIndexOf('/');
  return {
    name: hasTag ? withTag.slice(0, colon) : withTag,
    tag: hasTag ? withTag.slice(colon + 1) : undefined,
    digest,
  };
}

function serviceObjects(context: Context): K8sObject[] {
  return context.objects.filter((object) => groupKind(object) === 'serving.knative.dev/Service');
}

/** One Service per function, each running the floe image with FLOE_FUNCTION = its name and the health probes. */
function functionChecks(context: Context): void {
  const byName = new Map(context.manifests.services.map((service) => [service.name, service]));
  for (const name of FUNCTIONS)
    if (!byName.has(name)) report(context, 'render', '', `no Knative Service for function "${name}"`);
  for (const service of context.manifests.services) {
    const id = `Service/${service.name}`;
    if (!(FUNCTIONS as readonly string[]).includes(service.name))
      report(context, id, '', `"${service.name}" is not a floe function (${FUNCTIONS.join(', ')})`);
    if (service.function !== service.name)
      report(context, id, 'env.FLOE_FUNCTION', `must be "${service.name}", got ${JSON.stringify(service.function)}`);
    const image = imageReference(service.image);
    if (image.name !== IMAGE) report(context, id, 'image', `expected ${IMAGE}, got ${service.image}`);
    else if (!image.digest && (!image.tag || image.tag === 'latest'))
      report(context, id, 'image', 'pin a tag (not latest) or a digest');
    if (service.scaling.minScale !== 0)
      report(context, id, 'autoscaling.knative.dev/min-scale', 'floe functions scale to zero (min-scale "0")');
  }
  for (const service of serviceObjects(context)) {
    const container = service.spec?.template?.spec?.containers?.[0] ?? {};
    for (const [probe, wanted] of Object.entries(HEALTH_PATHS)) {
      if (container[probe]?.httpGet?.path !== wanted)
        report(
          context,
          `Service/${service.metadata.name}`,
          `containers[0].${probe}`,
          `must be an httpGet on ${wanted}`,
        );
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------

interface Sample {
  origin: string;
  broker: string | undefined;
  event: Record<string, string>;
  expected: Set<string>;
}

function routingChecks(context: Context): void {
  const { manifests } = context;
  const namespace = String(
    context.objects.find((object) => object.metadata?.namespace)?.metadata.namespace ?? 'default',
  );
  const samples: Sample[] = [];
  const brokerOf = (origin: string, path: string, sink: Sink, why: string): string | undefined => {
    if (sink.kind === 'Broker') return sink.name;
    report(context, origin, path, `must sink into the Broker (${why})`);
    return undefined;
  };
  for (const source of manifests.kafkaSources) {
    const origin = `KafkaSource/${source.name}`;
    // Straight into the tagger, never through a Broker: a Kafka Broker overwrites knativekafkapartition/offset with its
    // own topic's position, and for a record that is itself a CloudEvent those are the only source coordinates
    // (functions/tagger/kafka-record.ts). The tagger emits its result to K_SINK, as a KafkaSource discards replies.
    if (source.sink.kind !== 'Service' || source.sink.name !== KAFKA_EVENT_CONSUMER) {
      report(
        context,
        origin,
        'spec.sink',
        `must be the Service "${KAFKA_EVENT_CONSUMER}" itself: behind a Broker a record's Kafka coordinates are the Broker topic's, so redeliveries are not recognised`,
      );
    }
    // The tagger reads a CloudEvent record's topic from the source's floekafkatopic: one topic per source, named there.
    if (source.topics.length !== 1 || source.extensions[Extension.kafkaTopic] !== source.topics[0]) {
      report(
        context,
        origin,
        `spec.ceOverrides.extensions.${Extension.kafkaTopic}`,
        `floe: read exactly one topic and name it here (got topics ${JSON.stringify(source.topics)}, ${Extension.kafkaTopic} ${JSON.stringify(source.extensions[Extension.kafkaTopic] ?? null)})`,
      );
    }
  }
  for (const source of manifests.pingSources) {
    const origin = `PingSource/${source.name}`;
    const broker = brokerOf(
      origin,
      'spec.sink',
      source.sink,
      "ticks get the Trigger's retries and dead-letter sink only through the Broker",
    );
    const job = source.extensions[Extension.job];
    const target = job === undefined ? undefined : PING_JOBS[job];
    if (!target) {
      report(
        context,
        origin,
        `spec.ceOverrides.extensions.${Extension.job}`,
        `must be one of ${Object.keys(PING_JOBS).join(', ')}, got ${JSON.stringify(job)}`,
      );
      continue;
    }
    samples.push({
      origin,
      broker,
      event: pingSample(namespace, source.name, source.contentType, source.extensions),
      expected: new Set([target]),
    });
  }
  for (const producer of FUNCTIONS) {
    for (const emitted of EMITS[producer]) {
      const consumer = CONSUMER_OF[emitted.type];
      const expected = new Set(consumer ? [consumer] : []);
      for (const broker of emissionBrokers(context, producer, emitted.via)) {
        samples.push({
          origin: `${producer} (${emitted.via}) ${emitted.type}`,
          broker,
          event: emittedSample(producer, emitted.type),
          expected,
        });
      }
    }
  }
  const matchedTriggers = new Set<string>();
  for (const sample of samples) {
    const delivered = new Map<string, string>();
    for (const trigger of manifests.triggers) {
      if (trigger.broker !== sample.broker || !triggerMatches(context, trigger, sample.event)) continue;
      matchedTriggers.add(trigger.name);
      delivered.set(trigger.subscriber, trigger.name);
    }
    for (const consumer of sample.expected) {
      if (!delivered.has(consumer))
        report(
          context,
          sample.origin,
          '',
          `${sample.event.type} reaches no Trigger of "${consumer}" (its filter does not match the event)`,
        );
    }
    for (const [subscriber, trigger] of delivered) {
      if (sample.expected.has(subscriber)) continue;
      const what = sample.expected.size ? `only ${[...sample.expected].join(', ')} consumes it` : 'it is terminal';
      report(
        context,
        `Trigger/${trigger}`,
        'spec.filters',
        `delivers ${sample.event.type} from ${sample.origin} to "${subscriber}", but ${what}`,
      );
    }
  }
  for (const trigger of manifests.triggers) {
    if (!matchedTriggers.has(trigger.name))
      report(context, `Trigger/${trigger.name}`, 'spec.filters', 'matches none of the events the pipeline produces');
  }
}

/** The Brokers a function's emissions enter: replies go back to the Broker of the Trigger that called it. */
function emissionBrokers(context: Context, producer: FunctionName, via: 'reply' | 'sink'): string[] {
  const { manifests } = context;
  if (via === 'reply') {
    const brokers = [
      ...new Set(
        manifests.triggers.filter((trigger) => trigger.subscriber === producer).map((trigger) => trigger.broker),
      ),
    ];
    if (brokers.length === 0)
      report(
        context,
        `Service/${producer}`,
        '',
        'replies with events but no Trigger subscribes it, so nothing carries the replies',
      );
    return brokers;
  }
  const bindings = manifests.sinkBindings.filter((binding) => binding.subject === producer);
  const brokers = bindings.flatMap((binding) => (binding.sink.kind === 'Broker' ? [binding.sink.name] : []));
  if (brokers.length === 0)
    report(context, `Service/${producer}`, '', 'emits events to K_SINK but no SinkBinding binds it to the Broker');
  return brokers;
}

function triggerMatches(context: Context, trigger: Trigger, event: Record<string, string>): boolean {
  try {
    return matchesFilters(trigger.filters, event);
  } catch (err) {
    if (!(err instanceof UnsupportedFilterError)) throw err;
    report(context, `Trigger/${trigger.name}`, 'spec.filters', err.message);
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------

const DELIVERY_FIELDS = ['retry', 'backoffPolicy', 'backoffDelayMs', 'timeoutMs', 'deadLetterSink'] as const;

/** Complete, consistent delivery: nothing is dropped, and no attempt outlives the function it calls. */
function deliveryChecks(context: Context): void {
  const { manifests } = context;
  const services = new Map(manifests.services.map((service) => [service.name, service]));
  for (const trigger of manifests.triggers) {
    const id = `Trigger/${trigger.name}`;
    const missing = DELIVERY_FIELDS.filter((field) => trigger.delivery?.[field] === undefined);
    if (missing.length) {
      report(
        context,
        id,
        'spec.delivery',
        `floe: set the complete delivery (missing ${missing.join(', ')}) so the Kafka and channel brokers behave alike`,
      );
    }
    const delivery = effectiveTriggerDelivery(
      trigger,
      manifests.brokers.find((broker) => broker.name === trigger.broker),
    );
    if (delivery.deadLetterSink !== DEAD_LETTER_SINK)
      report(context, id, 'spec.delivery.deadLetterSink', `must be "${DEAD_LETTER_SINK}" so nothing is lost`);
    const service = services.get(trigger.subscriber);
    if (service && delivery.timeoutMs !== undefined && delivery.timeoutMs > service.timeoutSeconds * 1000) {
      report(
        context,
        id,
        'spec.delivery.timeout',
        `${delivery.timeoutMs / 1000}s exceeds "${service.name}" timeoutSeconds ${service.timeoutSeconds} (the Service would cut the request and it is retried)`,
      );
    }
    if (service?.name === WRITER) writerChecks(context, trigger, delivery.timeoutMs, service);
  }
  for (const source of manifests.kafkaSources) {
    if (source.delivery?.deadLetterSink !== DEAD_LETTER_SINK)
      report(
        context,
        `KafkaSource/${source.name}`,
        'spec.delivery.deadLetterSink',
        `must be "${DEAD_LETTER_SINK}" so nothing is lost`,
      );
    if (source.delivery !== undefined && source.delivery.retry === undefined) {
      report(
        context,
        `KafkaSource/${source.name}`,
        'spec.delivery.retry',
        'a delivery without retry means no retries at all on a KafkaSource',
      );
    }
  }
  for (const broker of manifests.brokers) {
    if (broker.delivery?.deadLetterSink !== DEAD_LETTER_SINK)
      report(context, `Broker/${broker.name}`, 'spec.delivery.deadLetterSink', `must be "${DEAD_LETTER_SINK}"`);
  }
}

/** Group commit: many requests held open per pod, each for up to the linger time plus the commit. */
function writerChecks(
  context: Context,
  trigger: Trigger,
  timeoutMs: number | undefined,
  writer: FunctionService,
): void {
  const id = `Trigger/${trigger.name}`;
  const linger = Number(writer.env[WRITER_LINGER_ENV]);
  if (!Number.isFinite(linger))
    report(context, `Service/${writer.name}`, `env.${WRITER_LINGER_ENV}`, 'must be set to a number of milliseconds');
  else if (timeoutMs !== undefined && timeoutMs < linger * 2 + 10_000) {
    report(
      context,
      id,
      'spec.delivery.timeout',
      `${timeoutMs}ms leaves too little beyond ${WRITER_LINGER_ENV}=${linger} for the commit (need >= 2 x linger + 10s)`,
    );
  }
  if (writer.containerConcurrency !== 0 && writer.containerConcurrency < 100) {
    report(
      context,
      `Service/${writer.name}`,
      'spec.template.spec.containerConcurrency',
      'group commit holds requests open: use 0 (unlimited) or at least 100',
    );
  }
  if (trigger.annotations['kafka.eventing.knative.dev/delivery.order'] === 'ordered') {
    report(
      context,
      id,
      'metadata.annotations',
      'ordered delivery allows one in-flight event per partition, which starves group commit',
    );
  }
}
