/**
 * Rules the Knative admission webhooks enforce that the CRD schemas do not (reference NOTES.md and the CRD README's
 * caveats; eventing `trigger_validation.go`, `ping_validation.go`, serving `k8s_validation.go`), plus a structural
 * check for the kinds that have no schema in the reference (ConfigMap, Secret, Namespace, SinkBinding; the bi
 * component's Deployments, Jobs, Services and claims in workload-rules.ts), and the few floe policies that keep the
 * manifests GitOps-safe (marked "floe:").
 *
 * Knative's webhooks decode objects with unknown fields disallowed, so the parts the CRD marks
 * preserve-unknown (Trigger spec, delivery, filter bodies) are checked against their Go types' field names here.
 */
import { isIsoDuration } from '../../local/knative/duration.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { cronScheduleProblem } from './cron.ts';
import { groupKind, isRecord, problem, type K8sObject, type Problem } from './problem.ts';
import { WORKLOAD_RULES } from './workload-rules.ts';

type Check = (object: K8sObject, report: (path: string, message: string) => void) => void;

/** Checks per `group/Kind`. A kind missing here and in the schema folder is itself reported. */
const RULES: Record<string, Check[]> = {
  'eventing.knative.dev/Broker': [brokerRules],
  'eventing.knative.dev/Trigger': [triggerRules],
  'sources.knative.dev/PingSource': [pingSourceRules],
  'sources.knative.dev/KafkaSource': [kafkaSourceRules],
  'sources.knative.dev/SinkBinding': [sinkBindingStructure],
  'serving.knative.dev/Service': [serviceRules],
  'v1/ConfigMap': [configMapStructure],
  'v1/Secret': [secretStructure],
  'v1/Namespace': [namespaceStructure],
  // Deployments, Jobs, Services and claims of the optional bi component (kustomize/components/bi)
  ...WORKLOAD_RULES,
};

export function hasRules(object: K8sObject): boolean {
  return groupKind(object) in RULES;
}

/** Webhook and structural problems of one object (metadata rules apply to every kind). */
export function webhookProblems(object: K8sObject): Problem[] {
  const problems: Problem[] = [];
  const report = (path: string, message: string) => problems.push(problem(object, path, message));
  metadataRules(object, report);
  for (const check of RULES[groupKind(object)] ?? []) check(object, report);
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// Shared pieces

const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const ATTRIBUTE_NAME = /^[a-z][a-z0-9]*$/;
const EXTENSION_NAME = /^[a-z0-9]+$/;
const CORE_ATTRIBUTES = new Set([
  'specversion',
  'id',
  'source',
  'type',
  'datacontenttype',
  'dataschema',
  'subject',
  'time',
  'data',
  'data_base64',
]);
const METADATA_FIELDS = new Set(['name', 'namespace', 'labels', 'annotations', 'finalizers']);
/** Objects whose names become DNS labels (Kubernetes Services, Kafka consumer groups …). */
const LABEL_NAMED_KINDS = new Set([
  'serving.knative.dev/Service',
  'eventing.knative.dev/Broker',
  'eventing.knative.dev/Trigger',
  'v1/Namespace',
  'v1/Service',
]);

function metadataRules(object: K8sObject, report: (path: string, message: string) => void): void {
  const metadata = object.metadata;
  if (!isRecord(metadata)) return report('metadata', 'missing');
  for (const key of Object.keys(metadata)) {
    if (!METADATA_FIELDS.has(key))
      report(`metadata.${key}`, 'unknown or server-managed field (not for manifests in Git)');
  }
  const name = metadata.name;
  if (typeof name !== 'string' || name === '') report('metadata.name', 'missing');
  else if (
    LABEL_NAMED_KINDS.has(groupKind(object))
      ? !DNS_LABEL.test(name) || name.length > 63
      : !DNS_SUBDOMAIN.test(name) || name.length > 253
  ) {
    report('metadata.name', `"${name}" is not a valid DNS name for a ${object.kind}`);
  }
  for (const field of ['labels', 'annotations']) {
    const map = metadata[field];
    if (map === undefined) continue;
    if (!isRecord(map)) report(`metadata.${field}`, 'must be a map');
    else
      for (const [key, value] of Object.entries(map))
        if (typeof value !== 'string') report(`metadata.${field}.${key}`, 'value must be a string (quote it)');
  }
  if (object.status !== undefined) report('status', 'status is written by the controller, not kept in Git');
}

function unknownKeys(
  value: unknown,
  allowed: readonly string[],
  path: string,
  report: (path: string, message: string) => void,
): void {
  if (!isRecord(value)) return;
  for (const key of Object.keys(value))
    if (!allowed.includes(key)) report(path ? `${path}.${key}` : key, `unknown field "${key}"`);
}

const DELIVERY_FIELDS = [
  'retry',
  'backoffPolicy',
  'backoffDelay',
  'deadLetterSink',
  'timeout',
  'retryAfterMax',
  'format',
];
const DESTINATION_FIELDS = ['ref', 'uri', 'CACerts', 'audience'];
const REFERENCE_FIELDS = ['apiVersion', 'kind', 'name', 'namespace', 'address', 'group'];

function deliveryRules(delivery: unknown, path: string, report: (path: string, message: string) => void): void {
  if (delivery === undefined) return;
  if (!isRecord(delivery)) return report(path, 'must be a mapping');
  unknownKeys(delivery, DELIVERY_FIELDS, path, report);
  if (delivery.retry !== undefined && !(Number.isInteger(delivery.retry) && delivery.retry >= 0))
    report(`${path}.retry`, 'must be an integer >= 0');
  if (delivery.backoffPolicy !== undefined && !['linear', 'exponential'].includes(delivery.backoffPolicy)) {
    report(`${path}.backoffPolicy`, `must be linear or exponential, got ${JSON.stringify(delivery.backoffPolicy)}`);
  }
  for (const field of ['backoffDelay', 'timeout', 'retryAfterMax']) {
    const value = delivery[field];
    if (value !== undefined && (typeof value !== 'string' || !isIsoDuration(value)))
      report(`${path}.${field}`, `not an ISO-8601 duration: ${JSON.stringify(value)}`);
  }
  if (delivery.retryAfterMax !== undefined)
    report(`${path}.retryAfterMax`, 'needs the feature flag delivery-retryafter, disabled by default');
  if (delivery.format !== undefined && !['json', 'binary'].includes(delivery.format))
    report(`${path}.format`, 'must be json or binary');
  if (delivery.deadLetterSink !== undefined)
    destinationRules(delivery.deadLetterSink, `${path}.deadLetterSink`, report);
}

function destinationRules(destination: unknown, path: string, report: (path: string, message: string) => void): void {
  if (!isRecord(destination)) return report(path, 'must be a mapping with ref or uri');
  unknownKeys(destination, DESTINATION_FIELDS, path, report);
  if (destination.ref === undefined && destination.uri === undefined) return report(path, 'needs ref or uri');
  if (destination.ref !== undefined) {
    const ref = destination.ref;
    unknownKeys(ref, REFERENCE_FIELDS, `${path}.ref`, report);
    for (const field of ['apiVersion', 'kind', 'name']) {
      if (!isRecord(ref) || typeof ref[field] !== 'string' || ref[field] === '')
        report(`${path}.ref.${field}`, 'missing');
    }
    if (isRecord(ref) && ref.namespace !== undefined)
      report(`${path}.ref.namespace`, 'floe: leave the namespace out so overlays can move everything');
  }
  if (
    typeof destination.uri === 'string' &&
    destination.ref === undefined &&
    !/^[a-z][a-z0-9+.-]*:\/\/[^/]/.test(destination.uri)
  ) {
    report(`${path}.uri`, 'without ref the uri must be absolute');
  }
}

function extensionRules(extensions: unknown, path: string, report: (path: string, message: string) => void): void {
  if (extensions === undefined) return;
  if (!isRecord(extensions)) return report(path, 'must be a map');
  for (const [name, value] of Object.entries(extensions)) {
    if (!EXTENSION_NAME.test(name)) report(`${path}.${name}`, 'CloudEvents extension names are lower-case [a-z0-9]');
    if (CORE_ATTRIBUTES.has(name)) report(`${path}.${name}`, 'must not override a core CloudEvents attribute');
    if (typeof value !== 'string') report(`${path}.${name}`, 'value must be a string');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Eventing

const BROKER_CLASSES = ['Kafka', 'KafkaNamespaced', 'MTChannelBasedBroker'];

function brokerRules(broker: K8sObject, report: (path: string, message: string) => void): void {
  const brokerClass = broker.metadata?.annotations?.['eventing.knative.dev/broker.class'];
  if (brokerClass === undefined)
    report(
      'metadata.annotations',
      'floe: set eventing.knative.dev/broker.class explicitly (it is immutable once defaulted)',
    );
  else if (!BROKER_CLASSES.includes(brokerClass))
    report('metadata.annotations.eventing.knative.dev/broker.class', `unknown class ${brokerClass}`);
  unknownKeys(broker.spec, ['config', 'delivery'], 'spec', report);
  deliveryRules(broker.spec?.delivery, 'spec.delivery', report);
  if (brokerClass?.startsWith('Kafka') && broker.spec?.config?.kind !== 'ConfigMap') {
    report(
      'spec.config',
      'a Kafka-class Broker needs spec.config pointing at its ConfigMap (bootstrap.servers, topic settings)',
    );
  }
}

const TRIGGER_SPEC_FIELDS = ['broker', 'brokerRef', 'filter', 'filters', 'subscriber', 'delivery'];
const ORDER_ANNOTATION = 'kafka.eventing.knative.dev/delivery.order';

function triggerRules(trigger: K8sObject, report: (path: string, message: string) => void): void {
  const spec = trigger.spec;
  if (!isRecord(spec)) return report('spec', 'missing');
  unknownKeys(spec, TRIGGER_SPEC_FIELDS, 'spec', report);
  if (typeof spec.broker !== 'string' || spec.broker === '') report('spec.broker', 'required');
  if (spec.filter !== undefined) {
    unknownKeys(spec.filter, ['attributes'], 'spec.filter', report);
    for (const name of Object.keys(spec.filter?.attributes ?? {})) {
      if (!ATTRIBUTE_NAME.test(name))
        report(`spec.filter.attributes.${name}`, 'attribute names must match ^[a-z][a-z0-9]*$');
    }
  }
  if (spec.filters !== undefined) {
    if (!Array.isArray(spec.filters)) report('spec.filters', 'must be a list');
    else spec.filters.forEach((entry: unknown, i: number) => filterRules(entry, `spec.filters[${i}]`, report));
  }
  if (spec.subscriber === undefined) report('spec.subscriber', 'required');
  else destinationRules(spec.subscriber, 'spec.subscriber', report);
  deliveryRules(spec.delivery, 'spec.delivery', report);
  const order = trigger.metadata?.annotations?.[ORDER_ANNOTATION];
  if (order !== undefined && order !== 'ordered' && order !== 'unordered')
    report(`metadata.annotations.${ORDER_ANNOTATION}`, 'must be ordered or unordered');
}

const DIALECTS = ['exact', 'prefix', 'suffix', 'all', 'any', 'not', 'cesql'];

/** One `filters` entry (recursively): one dialect, single-attribute maps, valid names, non-empty values. */
export function filterRules(entry: unknown, path: string, report: (path: string, message: string) => void): void {
  if (!isRecord(entry)) return report(path, 'must be a mapping with one dialect');
  unknownKeys(entry, DIALECTS, path, report);
  const dialects = Object.keys(entry).filter((key) => DIALECTS.includes(key));
  if (dialects.length > 1)
    return report(path, `multiple dialects found (${dialects.join(', ')}), filters can have only one dialect set`);
  if (dialects.length === 0) return report(path, 'empty filter entry (no dialect)');
  const dialect = dialects[0];
  const body = entry[dialect];
  if (dialect === 'exact' || dialect === 'prefix' || dialect === 'suffix') {
    if (!isRecord(body) || Object.keys(body).length !== 1)
      return report(`${path}.${dialect}`, 'Multiple items found, can have only one key-value');
    const [[name, value]] = Object.entries(body);
    if (!ATTRIBUTE_NAME.test(name)) report(`${path}.${dialect}.${name}`, 'attribute names must match ^[a-z][a-z0-9]*$');
    if (typeof value !== 'string' || value === '')
      report(
        `${path}.${dialect}.${name}`,
        'value must be a non-empty string (an empty one makes the broker skip the filter)',
      );
  } else if (dialect === 'all' || dialect === 'any') {
    if (!Array.isArray(body) || body.length === 0)
      return report(`${path}.${dialect}`, 'must contain at least one nested filter');
    body.forEach((nested: unknown, i: number) => filterRules(nested, `${path}.${dialect}[${i}]`, report));
  } else if (dialect === 'not') {
    filterRules(body, `${path}.not`, report);
  } else {
    report(
      `${path}.cesql`,
      'floe: CESQL is not used (the local broker evaluates only exact/prefix/suffix/all/any/not)',
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Sources

function pingSourceRules(source: K8sObject, report: (path: string, message: string) => void): void {
  const spec = source.spec ?? {};
  const schedule = typeof spec.schedule === 'string' ? spec.schedule : '* * * * *';
  const scheduleProblem = cronScheduleProblem(schedule);
  if (scheduleProblem) report('spec.schedule', scheduleProblem);
  if (spec.timezone !== undefined && !isTimeZone(spec.timezone))
    report('spec.timezone', `provided bad location ${spec.timezone}`);
  if (spec.data !== undefined && spec.dataBase64 !== undefined)
    report('spec', 'expected exactly one, got both: data, dataBase64');
  if (spec.dataBase64 !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(spec.dataBase64))
    report('spec.dataBase64', 'not base64');
  const payload =
    spec.data ?? (spec.dataBase64 !== undefined ? Buffer.from(spec.dataBase64, 'base64').toString('utf8') : undefined);
  if (spec.contentType === 'application/json' && payload !== undefined && !isJsonObject(payload)) {
    report(
      spec.data !== undefined ? 'spec.data' : 'spec.dataBase64',
      'contentType application/json needs a JSON object',
    );
  }
  extensionRules(spec.ceOverrides?.extensions, 'spec.ceOverrides.extensions', report);
  if (spec.sink === undefined) report('spec.sink', 'required');
  else destinationRules(spec.sink, 'spec.sink', report);
}

const KEY_TYPES = ['string', 'int', 'float', 'byte-array'];

function kafkaSourceRules(source: K8sObject, report: (path: string, message: string) => void): void {
  const spec = source.spec ?? {};
  for (const field of ['bootstrapServers', 'topics']) {
    if (
      !Array.isArray(spec[field]) ||
      spec[field].length === 0 ||
      spec[field].some((item: unknown) => typeof item !== 'string' || item === '')
    ) {
      report(`spec.${field}`, 'must be a non-empty list of non-empty strings');
    }
  }
  if (spec.initialOffset !== undefined && !['earliest', 'latest'].includes(spec.initialOffset))
    report('spec.initialOffset', 'must be earliest or latest');
  if (spec.ordering !== undefined && !['ordered', 'unordered'].includes(spec.ordering))
    report('spec.ordering', 'must be ordered or unordered');
  if (typeof spec.consumerGroup !== 'string' || spec.consumerGroup === '') {
    report(
      'spec.consumerGroup',
      'floe: set it explicitly (immutable; a defaulted random group re-reads the topics when the source is recreated)',
    );
  }
  const keyType = source.metadata?.labels?.['kafkasources.sources.knative.dev/key-type'];
  if (keyType !== undefined && !KEY_TYPES.includes(keyType))
    report('metadata.labels.kafkasources.sources.knative.dev/key-type', `must be one of ${KEY_TYPES.join(', ')}`);
  const sasl = spec.net?.sasl;
  if (sasl?.enable === true) {
    for (const field of ['user', 'password'])
      if (!sasl[field]?.secretKeyRef?.name) report(`spec.net.sasl.${field}`, 'SASL is enabled: needs a secretKeyRef');
  }
  extensionRules(spec.ceOverrides?.extensions, 'spec.ceOverrides.extensions', report);
  deliveryRules(spec.delivery, 'spec.delivery', report);
  if (spec.sink === undefined) report('spec.sink', 'required');
  else destinationRules(spec.sink, 'spec.sink', report);
}

function sinkBindingStructure(binding: K8sObject, report: (path: string, message: string) => void): void {
  if (binding.apiVersion !== 'sources.knative.dev/v1') report('apiVersion', 'expected sources.knative.dev/v1');
  unknownKeys(binding, ['apiVersion', 'kind', 'metadata', 'spec'], '', report);
  const spec = binding.spec;
  if (!isRecord(spec)) return report('spec', 'missing');
  unknownKeys(spec, ['subject', 'sink', 'ceOverrides'], 'spec', report);
  const subject = spec.subject;
  if (!isRecord(subject)) report('spec.subject', 'missing');
  else {
    unknownKeys(subject, ['apiVersion', 'kind', 'namespace', 'name', 'selector'], 'spec.subject', report);
    if (!subject.apiVersion || !subject.kind) report('spec.subject', 'needs apiVersion and kind');
    if ((subject.name === undefined) === (subject.selector === undefined))
      report('spec.subject', 'needs exactly one of name and selector');
  }
  if (spec.sink === undefined) report('spec.sink', 'required');
  else destinationRules(spec.sink, 'spec.sink', report);
  extensionRules(spec.ceOverrides?.extensions, 'spec.ceOverrides.extensions', report);
}

// ---------------------------------------------------------------------------------------------------------------
// Serving

const RESERVED_PORTS = [8012, 8013, 8022, 9090, 9091];
const KPA = 'kpa.autoscaling.knative.dev';
const HPA = 'hpa.autoscaling.knative.dev';
const MAX_REVISION_TIMEOUT_SECONDS = 600;
const MAX_CONTAINER_CONCURRENCY = 1000;
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$/;
const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;

function serviceRules(service: K8sObject, report: (path: string, message: string) => void): void {
  const template = service.spec?.template ?? {};
  const podSpec = template.spec ?? {};
  autoscalingRules(template.metadata?.annotations ?? {}, report);
  const timeout = podSpec.timeoutSeconds;
  if (timeout !== undefined && (timeout < 0 || timeout > MAX_REVISION_TIMEOUT_SECONDS)) {
    report(
      'spec.template.spec.timeoutSeconds',
      `must be within 0-${MAX_REVISION_TIMEOUT_SECONDS} (max-revision-timeout-seconds)`,
    );
  }
  const concurrency = podSpec.containerConcurrency;
  if (concurrency !== undefined && (concurrency < 0 || concurrency > MAX_CONTAINER_CONCURRENCY)) {
    report('spec.template.spec.containerConcurrency', `must be within 0-${MAX_CONTAINER_CONCURRENCY}`);
  }
  const target = Number(template.metadata?.annotations?.['autoscaling.knative.dev/target']);
  if (concurrency > 0 && target > concurrency) {
    report(
      'spec.template.metadata.annotations.autoscaling.knative.dev/target',
      `floe: soft target ${target} above the hard containerConcurrency ${concurrency} never takes effect`,
    );
  }
  const containers: K8sObject[] = podSpec.containers ?? [];
  if (containers.length !== 1)
    report(
      'spec.template.spec.containers',
      'floe: exactly one container (one image, FLOE_FUNCTION picks the function)',
    );
  const volumes = new Map<string, K8sObject>((podSpec.volumes ?? []).map((volume: K8sObject) => [volume.name, volume]));
  containers.forEach((container, i) =>
    containerRules(container, `spec.template.spec.containers[${i}]`, volumes, report),
  );
}

function autoscalingRules(annotations: Record<string, string>, report: (path: string, message: string) => void): void {
  const at = (key: string) => `spec.template.metadata.annotations.autoscaling.knative.dev/${key}`;
  const value = (key: string): string | undefined => annotations[`autoscaling.knative.dev/${key}`];
  const autoscalingClass = value('class') ?? KPA;
  if (![KPA, HPA].includes(autoscalingClass)) report(at('class'), `unknown autoscaling class ${autoscalingClass}`);
  const metric = value('metric');
  const metrics = autoscalingClass === KPA ? ['concurrency', 'rps'] : ['cpu', 'memory'];
  if (metric !== undefined && !metrics.includes(metric))
    report(at('metric'), `must be one of ${metrics.join(', ')} for ${autoscalingClass}`);
  const integer = (key: string): number | undefined => {
    const text = value(key);
    if (text === undefined) return undefined;
    if (!/^\d+$/.test(text)) {
      report(at(key), `must be a non-negative integer, got ${JSON.stringify(text)}`);
      return undefined;
    }
    return Number(text);
  };
  const minScale = integer('min-scale');
  const maxScale = integer('max-scale');
  integer('initial-scale');
  if (minScale !== undefined && maxScale !== undefined && maxScale !== 0 && minScale > maxScale)
    report(at('max-scale'), `min-scale ${minScale} is above max-scale ${maxScale}`);
  if (autoscalingClass === HPA && minScale === 0) report(at('min-scale'), 'the HPA class cannot scale to zero');
  const target = value('target');
  if (target !== undefined && !(Number(target) >= 0.01)) report(at('target'), 'must be a number >= 0.01');
  const utilization = value('target-utilization-percentage');
  if (utilization !== undefined && !(Number(utilization) >= 1 && Number(utilization) <= 100))
    report(at('target-utilization-percentage'), 'must be within 1-100');
  for (const key of ['scale-down-delay', 'window', 'scale-to-zero-pod-retention-period']) {
    const text = value(key);
    if (text !== undefined && !GO_DURATION.test(text))
      report(at(key), `not a duration like 30s or 5m: ${JSON.stringify(text)}`);
  }
  const delay = value('scale-down-delay');
  if (delay !== undefined && GO_DURATION.test(delay) && goDurationSeconds(delay) > 3600)
    report(at('scale-down-delay'), 'must be at most 1h');
}

function containerRules(
  container: K8sObject,
  path: string,
  volumes: Map<string, K8sObject>,
  report: (path: string, message: string) => void,
): void {
  const ports: K8sObject[] = container.ports ?? [];
  if (ports.length > 1) report(`${path}.ports`, 'more than one container port is not allowed');
  const port = ports[0]?.containerPort ?? 8080;
  if (RESERVED_PORTS.includes(port)) report(`${path}.ports[0].containerPort`, `${port} is a reserved port`);
  if (ports[0]?.name !== undefined && !['http1', 'h2c'].includes(ports[0].name))
    report(`${path}.ports[0].name`, 'must be http1 or h2c');
  for (const probeName of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
    const probe = container[probeName];
    if (!probe) continue;
    const probePort = probe.httpGet?.port ?? probe.tcpSocket?.port;
    if (probePort !== undefined && probePort !== port)
      report(`${path}.${probeName}`, `port ${probePort} must be the container port ${port} or omitted`);
  }
  for (const [i, mount] of (container.volumeMounts ?? []).entries()) {
    const volume = volumes.get(mount.name);
    if (!volume) report(`${path}.volumeMounts[${i}]`, 'volumeMount has no matching volume');
    else if (!volume.emptyDir && !volume.persistentVolumeClaim && mount.readOnly !== true) {
      report(`${path}.volumeMounts[${i}].readOnly`, 'volume mount should be readOnly for this type of volume');
    }
    if (!mount.mountPath) report(`${path}.volumeMounts[${i}].mountPath`, 'missing');
  }
  for (const [i, variable] of (container.env ?? []).entries()) {
    if (!/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(variable.name ?? ''))
      report(`${path}.env[${i}].name`, 'not a valid environment variable name');
  }
  for (const section of ['requests', 'limits']) {
    for (const [resource, quantity] of Object.entries(container.resources?.[section] ?? {})) {
      if (!QUANTITY.test(String(quantity)))
        report(`${path}.resources.${section}.${resource}`, `not a quantity: ${JSON.stringify(quantity)}`);
    }
  }
  if (!container.image) report(`${path}.image`, 'missing');
}

// ---------------------------------------------------------------------------------------------------------------
// Core kinds without a schema in the reference: structure only

function configMapStructure(configMap: K8sObject, report: (path: string, message: string) => void): void {
  unknownKeys(configMap, ['apiVersion', 'kind', 'metadata', 'data', 'binaryData', 'immutable'], '', report);
  if (configMap.apiVersion !== 'v1') report('apiVersion', 'expected v1');
  for (const [key, value] of Object.entries(configMap.data ?? {})) {
    if (!/^[-._a-zA-Z0-9]+$/.test(key)) report(`data.${key}`, 'not a valid ConfigMap key');
    if (typeof value !== 'string') report(`data.${key}`, 'value must be a string (quote numbers and booleans)');
  }
}

function secretStructure(secret: K8sObject, report: (path: string, message: string) => void): void {
  unknownKeys(secret, ['apiVersion', 'kind', 'metadata', 'data', 'stringData', 'type', 'immutable'], '', report);
  if (secret.apiVersion !== 'v1') report('apiVersion', 'expected v1');
  for (const [key, value] of Object.entries(secret.data ?? {})) {
    if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) report(`data.${key}`, 'must be base64');
  }
  for (const [key, value] of Object.entries(secret.stringData ?? {}))
    if (typeof value !== 'string') report(`stringData.${key}`, 'must be a string');
}

function namespaceStructure(namespace: K8sObject, report: (path: string, message: string) => void): void {
  unknownKeys(namespace, ['apiVersion', 'kind', 'metadata', 'spec'], '', report);
  if (namespace.apiVersion !== 'v1') report('apiVersion', 'expected v1');
  if (namespace.metadata?.namespace !== undefined) report('metadata.namespace', 'a Namespace is cluster-scoped');
}

// ---------------------------------------------------------------------------------------------------------------

function isTimeZone(zone: unknown): boolean {
  if (typeof zone !== 'string' || zone === '') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function isJsonObject(text: string): boolean {
  try {
    return isRecord(parseJson(text));
  } catch {
    return false;
  }
}

function goDurationSeconds(text: string): number {
  const unit: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  let total = 0;
  for (const [, amount, , suffix] of text.matchAll(/(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)/g))
    total += Number(amount) * unit[suffix];
  return total;
}
