/**
 * What a real cluster does with a render that the schemas and the webhooks accept (facts from the Knative, Argo CD and
 * Kubernetes sources named at each rule):
 * - the kubelet starts a runAsNonRoot container only when it can see a numeric, non-zero user;
 * - Serving cuts a request at responseStartTimeoutSeconds, which it fills in (300 s stock) whenever that is below
 *   timeoutSeconds, and floe's host sends its first byte only when the handler is done;
 * - a dispatcher that gives up on a request does not stop the handler, so a retry after a timeout runs a maintenance
 *   job twice at once;
 * - Argo CD applies sync waves in order and waits for each to be healthy;
 * - `ordering: ordered` on a KafkaSource buys nothing when the Trigger its events reach delivers unordered;
 * - a Broker without spec.config gets the cluster default's, which may belong to another Broker class;
 * - with controller-autoscaler-keda on, every Kafka consumer group that does not say otherwise is scaled by KEDA;
 * - Knative resolves an image tag to a digest once per Revision, so a moving tag never rolls out.
 */
import { matchesFilters, UnsupportedFilterError } from '../../local/knative/filters.ts';
import {
  effectiveTriggerDelivery,
  ManifestError,
  parseManifests,
  type Manifests,
} from '../../local/knative/manifests.ts';
import { kafkaSample, pingSample } from './contract.ts';
import { groupKind, objectId, problem, type K8sObject, type Problem } from './problem.ts';
import { ARGOCD_HOOK, podTemplates } from './workload-rules.ts';

export interface ClusterCheckOptions {
  /** The USER of the image the Services run (the Dockerfile's), when known. */
  imageUser?: string;
}

/** Serving's stock `revision-timeout-seconds` (config-defaults), used when a Service sets no timeoutSeconds. */
const DEFAULT_TIMEOUT_SECONDS = 300;
/** Serving's stock `revision-response-start-timeout-seconds`: filled in only when below timeoutSeconds. */
const DEFAULT_RESPONSE_START_SECONDS = 300;
export const SYNC_WAVE = 'argocd.argoproj.io/sync-wave';
const AUTOSCALING_CLASS = 'autoscaling.eventing.knative.dev/class';
const AUTOSCALING_MAX_SCALE = 'autoscaling.eventing.knative.dev/max-scale';
const KEDA = 'keda.autoscaling.knative.dev';
const ORDER_ANNOTATION = 'kafka.eventing.knative.dev/delivery.order';

export function clusterProblems(objects: readonly K8sObject[], options: ClusterCheckOptions = {}): Problem[] {
  let manifests: Manifests;
  try {
    manifests = parseManifests(objects);
  } catch (err) {
    // cross-refs.ts reports an unreadable render; the per-object rules below still apply
    if (!(err instanceof ManifestError)) throw err;
    manifests = {
      brokers: [],
      triggers: [],
      pingSources: [],
      kafkaSources: [],
      services: [],
      sinkBindings: [],
      configMaps: {},
    };
  }
  const problems: Problem[] = [];
  const report = (object: K8sObject | string, path: string, message: string) =>
    problems.push(problem(object, path, message));
  const ofKind = (kind: string) => objects.filter((object) => groupKind(object) === kind);
  const services = ofKind('serving.knative.dev/Service');
  const namespace = String(objects.find((object) => object.metadata?.namespace)?.metadata.namespace ?? 'default');

  for (const service of services) nonRootRule(service, options, report);
  for (const service of services) responseStartRule(service, report);
  triggerTimeoutRule(objects, manifests, report);
  maintenanceRetryRule(manifests, namespace, report);
  syncWaveRule(objects, report);
  orderingRule(manifests, namespace, report);
  for (const broker of ofKind('eventing.knative.dev/Broker')) brokerConfigRule(broker, report);
  autoscalingClassRule(objects, report);
  for (const service of services) imageRule(service, report);
  return problems;
}

type Report = (object: K8sObject | string, path: string, message: string) => void;

const isNumericUser = (value: unknown) => typeof value === 'number' && Number.isInteger(value) && value > 0;

/** `USER 1000`, `USER 1000:1000` (uid 0 is root, so it does not count). */
export function numericImageUser(user: string | undefined): boolean {
  const uid = user?.split(':')[0];
  return uid !== undefined && /^\d+$/.test(uid) && Number(uid) > 0;
}

/** kubelet (kuberuntime_container.go verifyRunAsNonRoot): a non-numeric image USER cannot be verified, so it refuses. */
function nonRootRule(service: K8sObject, options: ClusterCheckOptions, report: Report): void {
  const podSpec = service.spec?.template?.spec ?? {};
  (podSpec.containers ?? []).forEach((container: K8sObject, i: number) => {
    const nonRoot = container.securityContext?.runAsNonRoot ?? podSpec.securityContext?.runAsNonRoot;
    if (nonRoot !== true) return;
    const user = container.securityContext?.runAsUser ?? podSpec.securityContext?.runAsUser;
    if (user !== undefined && !isNumericUser(user)) {
      report(
        service,
        `spec.template.spec.containers[${i}].securityContext.runAsUser`,
        `runAsNonRoot with runAsUser ${JSON.stringify(user)}: must be a uid above 0`,
      );
    } else if (user === undefined && !numericImageUser(options.imageUser)) {
      report(
        service,
        `spec.template.spec.containers[${i}].securityContext`,
        `runAsNonRoot without a numeric runAsUser${options.imageUser ? ` and the image's USER is ${options.imageUser}` : ''}: the kubelet refuses to start a container whose user it cannot verify as non-root (set runAsUser: 1000)`,
      );
    }
  });
}

/** The response-start timeout Serving applies: explicit, else the stock default when it is below timeoutSeconds. */
export function effectiveResponseStartSeconds(service: K8sObject): number {
  const spec = service.spec?.template?.spec ?? {};
  const timeout: number = spec.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  if (spec.responseStartTimeoutSeconds !== undefined) return Math.min(spec.responseStartTimeoutSeconds, timeout);
  return DEFAULT_RESPONSE_START_SECONDS < timeout ? DEFAULT_RESPONSE_START_SECONDS : timeout;
}

/** serving revision_defaults.go: responseStartTimeoutSeconds is defaulted from config-defaults when below timeoutSeconds. */
function responseStartRule(service: K8sObject, report: Report): void {
  const spec = service.spec?.template?.spec ?? {};
  const timeout: number = spec.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  const responseStart = spec.responseStartTimeoutSeconds;
  if (responseStart === undefined) {
    report(
      service,
      'spec.template.spec.responseStartTimeoutSeconds',
      `floe: set it explicitly (= timeoutSeconds): Serving fills in the cluster's revision-response-start-timeout-seconds (300 s stock) whenever that is below timeoutSeconds, and floe's host sends its first byte only when the handler is done`,
    );
  } else if (!Number.isInteger(responseStart) || responseStart <= 0 || responseStart > timeout) {
    report(
      service,
      'spec.template.spec.responseStartTimeoutSeconds',
      `${JSON.stringify(responseStart)} must be a whole number of seconds within 1-${timeout} (timeoutSeconds)`,
    );
  }
}

/**
 * A request Serving cuts first is a 504 that the dispatcher (a Trigger's, or that of a KafkaSource sinking into a
 * Service) retries while the handler still runs.
 */
function triggerTimeoutRule(objects: readonly K8sObject[], manifests: Manifests, report: Report): void {
  const serviceObjects = new Map(
    objects.filter((o) => groupKind(o) === 'serving.knative.dev/Service').map((o) => [o.metadata?.name, o]),
  );
  for (const trigger of manifests.triggers) {
    const service = serviceObjects.get(trigger.subscriber);
    const timeoutMs = effectiveTriggerDelivery(
      trigger,
      manifests.brokers.find((b) => b.name === trigger.broker),
    ).timeoutMs;
    if (!service || timeoutMs === undefined) continue;
    timeoutBelowResponseStart(`Trigger/${trigger.name}`, timeoutMs, service, report);
  }
  for (const source of manifests.kafkaSources) {
    const service = source.sink.kind === 'Service' ? serviceObjects.get(source.sink.name) : undefined;
    const timeoutMs = source.delivery?.timeoutMs;
    if (service && timeoutMs !== undefined)
      timeoutBelowResponseStart(`KafkaSource/${source.name}`, timeoutMs, service, report);
  }
}

function timeoutBelowResponseStart(sender: string, timeoutMs: number, service: K8sObject, report: Report): void {
  const limit = effectiveResponseStartSeconds(service);
  if (timeoutMs >= limit * 1000) {
    report(
      sender,
      'spec.delivery.timeout',
      `${timeoutMs / 1000}s is not below the ${limit}s after which Service/${service.metadata.name} answers 504 (responseStartTimeoutSeconds): the dispatcher would retry while the handler still runs`,
    );
  }
}

/** A run abandoned by the dispatcher keeps going; a retry of its tick would start a second one beside it. */
function maintenanceRetryRule(manifests: Manifests, namespace: string, report: Report): void {
  for (const source of manifests.pingSources) {
    if (source.sink.kind !== 'Broker') continue;
    const tick = pingSample(namespace, source.name, source.contentType, source.extensions);
    for (const trigger of manifests.triggers) {
      if (trigger.broker !== source.sink.name || !matches(trigger.filters, tick)) continue;
      const retry =
        effectiveTriggerDelivery(
          trigger,
          manifests.brokers.find((b) => b.name === trigger.broker),
        ).retry ?? 0;
      if (retry !== 0) {
        report(
          `Trigger/${trigger.name}`,
          'spec.delivery.retry',
          `receives the ticks of PingSource/${source.name} with retry ${retry}: a retry after a timeout starts the job a second time while the abandoned run continues; use retry 0 (the next tick re-runs the job)`,
        );
      }
    }
  }
}

function matches(filters: Parameters<typeof matchesFilters>[0], event: Record<string, string>): boolean {
  try {
    return matchesFilters(filters, event);
  } catch (err) {
    if (err instanceof UnsupportedFilterError) return false; // cross-refs.ts reports the filter
    throw err;
  }
}

/**
 * Sync-wave rank per kind, and why it comes after the ranks before it. 0 is Argo CD's wave for an unannotated object.
 */
const WAVE_RANKS: Readonly<Record<string, { rank: number; why: string }>> = {
  'v1/Namespace': { rank: 0, why: '' },
  'v1/ConfigMap': { rank: 0, why: '' },
  'v1/Secret': { rank: 0, why: '' },
  'serving.knative.dev/Service': { rank: 1, why: 'a Service needs the ConfigMaps and Secrets it reads' },
  'eventing.knative.dev/Broker': {
    rank: 2,
    why: 'a Broker is not Ready until it resolves its dead-letter sink, a Knative Service',
  },
  'eventing.knative.dev/Trigger': { rank: 3, why: 'a Trigger is not Ready before its Broker and subscriber' },
  'sources.knative.dev/SinkBinding': {
    rank: 3,
    why: 'a SinkBinding is not Ready before its subject Service and its sink, the Broker',
  },
  'sources.knative.dev/KafkaSource': {
    rank: 4,
    why: 'an event a source sends before a Trigger exists is not delivered to that Trigger',
  },
  'sources.knative.dev/PingSource': {
    rank: 4,
    why: 'an event a source sends before a Trigger exists is not delivered to that Trigger',
  },
  // the bi component (kustomize/components/bi)
  'v1/Service': { rank: 0, why: '' },
  'apps/Deployment': { rank: 1, why: 'a Deployment needs the ConfigMaps and Secrets it reads' },
  'v1/PersistentVolumeClaim': {
    rank: 1,
    why: 'a claim of a WaitForFirstConsumer storage class stays Pending until its pod is scheduled: it goes in the wave of the Deployment that mounts it',
  },
};

export function syncWave(object: K8sObject): number | undefined {
  const text = object.metadata?.annotations?.[SYNC_WAVE];
  if (text === undefined) return 0;
  return /^-?\d+$/.test(text) ? Number(text) : undefined;
}

/** gitops-engine sync_context.go: waves run in order, each once the previous one is healthy. */
function syncWaveRule(objects: readonly K8sObject[], report: Report): void {
  const ranked: { object: K8sObject; rank: number; wave: number }[] = [];
  for (const object of objects) {
    // a hook runs in its own phase (a PostSync hook after every wave is healthy), not in a wave
    if (object.metadata?.annotations?.[ARGOCD_HOOK] !== undefined) continue;
    const rule = WAVE_RANKS[groupKind(object)];
    const wave = syncWave(object);
    if (!rule)
      report(
        object,
        `metadata.annotations.${SYNC_WAVE}`,
        `no sync-wave rule for ${groupKind(object)} in test/deploy/cluster-rules.ts: decide where it goes`,
      );
    else if (wave === undefined)
      report(
        object,
        `metadata.annotations.${SYNC_WAVE}`,
        `not an integer: ${JSON.stringify(object.metadata.annotations[SYNC_WAVE])}`,
      );
    else ranked.push({ object, rank: rule.rank, wave });
  }
  claimWaveRule(objects, report);
  for (const later of ranked) {
    const earlier = ranked.find((other) => other.rank < later.rank && other.wave >= later.wave);
    if (earlier) {
      report(
        later.object,
        `metadata.annotations.${SYNC_WAVE}`,
        `wave ${later.wave} must come after ${objectId(earlier.object)} (wave ${earlier.wave}): ${WAVE_RANKS[groupKind(later.object)].why}`,
      );
    }
  }
}

/**
 * Argo CD's health of a PersistentVolumeClaim is Progressing while it is Pending, and with a WaitForFirstConsumer
 * storage class it binds only once a pod that mounts it is scheduled: in an earlier wave than that pod's Deployment
 * the sync never gets past it.
 */
function claimWaveRule(objects: readonly K8sObject[], report: Report): void {
  for (const { object, spec } of podTemplates(objects)) {
    for (const volume of (spec.volumes ?? []) as K8sObject[]) {
      const name = volume.persistentVolumeClaim?.claimName;
      const claim = objects.find((o) => groupKind(o) === 'v1/PersistentVolumeClaim' && o.metadata?.name === name);
      if (!claim || object.metadata?.annotations?.[ARGOCD_HOOK] !== undefined) continue;
      if (syncWave(claim) !== syncWave(object))
        report(
          claim,
          `metadata.annotations.${SYNC_WAVE}`,
          `wave ${syncWave(claim)}, but ${objectId(object)} that mounts it is in wave ${syncWave(object)}: ${WAVE_RANKS['v1/PersistentVolumeClaim'].why}`,
        );
    }
  }
}

/**
 * eventing-kafka-broker: `ordered` (the default) allows one event in flight per partition, retries and backoff
 * included. floe depends on no order (rows carry their event time, duplicates are recognised by Kafka coordinate), and
 * whatever a source's events become is delivered unordered further on, so ordering only costs throughput.
 */
function orderingRule(manifests: Manifests, namespace: string, report: Report): void {
  for (const source of manifests.kafkaSources) {
    if (source.ordering !== 'ordered') continue;
    let evidence = 'nothing in floe depends on event order';
    if (source.sink.kind === 'Broker') {
      const brokerName = source.sink.name;
      const unordered = source.topics.flatMap((topic) =>
        manifests.triggers.filter(
          (trigger) =>
            trigger.broker === brokerName &&
            matches(trigger.filters, kafkaSample(namespace, source.name, topic, source.extensions)) &&
            trigger.annotations[ORDER_ANNOTATION] !== 'ordered',
        ),
      );
      if (unordered.length === 0) continue;
      evidence = `Trigger/${unordered[0].name} delivers its events unordered anyway`;
    }
    report(
      `KafkaSource/${source.name}`,
      'spec.ordering',
      `ordered (the default when unset) buys nothing: ${evidence}, and ordered allows only one event in flight per partition`,
    );
  }
}

/** eventing broker_defaults.go: a Broker without spec.config gets config-br-defaults' config, of whatever class. */
function brokerConfigRule(broker: K8sObject, report: Report): void {
  const config = broker.spec?.config;
  if (!config?.name || !config?.kind) {
    report(
      broker,
      'spec.config',
      `floe: name the config explicitly: left out, the webhook copies the cluster default's (config-br-defaults), which on a cluster whose default class is another one is that class's config`,
    );
  }
}

/** eventing-kafka-broker keda.go IsEnabled: with the feature on, a consumer group without a class is KEDA-scaled. */
function autoscalingClassRule(objects: readonly K8sObject[], report: Report): void {
  const brokers = new Map(
    objects.filter((o) => groupKind(o) === 'eventing.knative.dev/Broker').map((o) => [o.metadata?.name, o]),
  );
  const configMaps = new Map(objects.filter((o) => groupKind(o) === 'v1/ConfigMap').map((o) => [o.metadata?.name, o]));
  for (const object of objects) {
    const kind = groupKind(object);
    let partitions: number | undefined;
    if (kind === 'eventing.knative.dev/Trigger') {
      const broker = brokers.get(object.spec?.broker);
      if (!broker?.metadata?.annotations?.['eventing.knative.dev/broker.class']?.startsWith('Kafka')) continue;
      const text = configMaps.get(broker.spec?.config?.name)?.data?.['default.topic.partitions'];
      partitions = text === undefined ? undefined : Number(text);
    } else if (kind !== 'sources.knative.dev/KafkaSource') {
      continue;
    }
    const annotations = object.metadata?.annotations ?? {};
    const autoscalingClass = annotations[AUTOSCALING_CLASS];
    if (autoscalingClass === undefined) {
      report(
        object,
        `metadata.annotations.${AUTOSCALING_CLASS}`,
        `floe: state the autoscaling class (${KEDA} or disabled): on a cluster with controller-autoscaler-keda enabled, a Kafka consumer group that says nothing is scaled by KEDA with the cluster's defaults (up to 50 consumers)`,
      );
    } else if (autoscalingClass === KEDA) {
      const maxScale = annotations[AUTOSCALING_MAX_SCALE];
      if (maxScale === undefined)
        report(
          object,
          `metadata.annotations.${AUTOSCALING_MAX_SCALE}`,
          'floe: KEDA-scaled: set max-scale (the default, 50, is more consumers than partitions)',
        );
      else if (partitions !== undefined && Number(maxScale) > partitions) {
        report(
          object,
          `metadata.annotations.${AUTOSCALING_MAX_SCALE}`,
          `${maxScale} consumers for a Broker topic of ${partitions} partitions: the extra ones sit idle`,
        );
      }
    } else if (autoscalingClass !== 'disabled') {
      report(
        object,
        `metadata.annotations.${AUTOSCALING_CLASS}`,
        `unknown autoscaling class ${autoscalingClass} (${KEDA} or disabled)`,
      );
    }
  }
}

const VERSION_TAG = /^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** serving: tags are resolved to digests when a Revision is created; an unchanged spec creates no Revision. */
function imageRule(service: K8sObject, report: Report): void {
  (service.spec?.template?.spec?.containers ?? []).forEach((container: K8sObject, i: number) => {
    const image = String(container.image ?? '');
    const [withTag, digest] = image.split('@');
    const colon = withTag.lastIndexOf(':');
    const tag = colon > withTag.lastIndexOf('/') ? withTag.slice(colon + 1) : undefined;
    if (digest !== undefined ? DIGEST.test(digest) : tag !== undefined && VERSION_TAG.test(tag)) return;
    report(
      service,
      `spec.template.spec.containers[${i}].image`,
      `${image}: pin a release version tag or a digest; Knative resolves a tag to a digest once, when it creates a Revision, so a re-pushed tag never rolls out`,
    );
  });
}
