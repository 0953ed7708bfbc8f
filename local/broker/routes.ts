/**
 * The Triggers of one Broker, resolved for delivery: subscriber and dead-letter URLs from the map of running
 * services, the delivery each Trigger gets (its own fields over the Broker's, the Broker's over Knative's defaults),
 * the per-attempt timeout and the in-flight limit. Everything a manifest gets wrong fails here, at start.
 */
import type { FilterExpression } from '../knative/filters.ts';
import {
  effectiveTriggerDelivery,
  type Broker,
  type DeliverySpec,
  type Manifests,
  type Trigger,
} from '../knative/manifests.ts';
import { createLane, type Lane } from './lane.ts';

export interface Route {
  trigger: Trigger;
  /** Where the subscriber listens (service URL plus the Trigger's `subscriber.uri`). */
  url: string;
  delivery: DeliverySpec & { timeoutMs: number };
  deadLetterUrl: string | undefined;
  /** `kafka.eventing.knative.dev/delivery.order: ordered`: one delivery at a time per `partitionkey`. */
  ordered: boolean;
  lane: Lane;
}

export class BrokerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BrokerConfigError';
  }
}

/** What the eventing webhook fills in when a Broker has no `spec.delivery` (stock `config-br-defaults`). */
const BROKER_DEFAULT_DELIVERY: DeliverySpec = { retry: 10, backoffPolicy: 'exponential', backoffDelayMs: 200 };
/** Knative Serving's request timeout when a Service sets none. */
const DEFAULT_TIMEOUT_MS = 300_000;
/** In-flight deliveries of a Trigger whose subscriber sets no `containerConcurrency` (0 = unlimited). */
export const DEFAULT_TRIGGER_CONCURRENCY = 1000;
const ORDER_ANNOTATION = 'kafka.eventing.knative.dev/delivery.order';

/** The Broker this process stands in for: the named one, else the manifests' only Broker, else `default`. */
export function brokerName(manifests: Manifests, wanted: string | undefined): string {
  if (wanted) return wanted;
  if (manifests.brokers.length === 1) return manifests.brokers[0].name;
  if (manifests.brokers.length > 1 && !manifests.brokers.some((broker) => broker.name === 'default')) {
    throw new BrokerConfigError(
      `the manifests define Brokers ${manifests.brokers.map((b) => b.name).join(', ')}: name the one to run`,
    );
  }
  return 'default';
}

export function resolveRoutes(manifests: Manifests, name: string, services: Record<string, string>): Route[] {
  const broker: Broker = manifests.brokers.find((b) => b.name === name) ?? {
    name,
    brokerClass: undefined,
    delivery: undefined,
  };
  const withDefaults: Broker = { ...broker, delivery: broker.delivery ?? BROKER_DEFAULT_DELIVERY };
  return manifests.triggers
    .filter((trigger) => trigger.broker === name)
    .map((trigger) => {
      const where = `Trigger ${trigger.name}`;
      if (trigger.filters.some(usesCesql))
        throw new BrokerConfigError(`${where}: CESQL filters are not supported by the local broker`);
      const delivery = effectiveTriggerDelivery(trigger, withDefaults);
      const service = manifests.services.find((s) => s.name === trigger.subscriber);
      const concurrency = service?.containerConcurrency || DEFAULT_TRIGGER_CONCURRENCY;
      const order = trigger.annotations[ORDER_ANNOTATION];
      if (order !== undefined && order !== 'ordered' && order !== 'unordered') {
        throw new BrokerConfigError(`${where}: ${ORDER_ANNOTATION} must be ordered or unordered, got ${order}`);
      }
      return {
        trigger,
        url: serviceUrl(services, trigger.subscriber, trigger.subscriberPath, `${where}: subscriber`),
        delivery: {
          ...delivery,
          timeoutMs: delivery.timeoutMs ?? (service ? service.timeoutSeconds * 1000 : DEFAULT_TIMEOUT_MS),
        },
        deadLetterUrl: delivery.deadLetterSink
          ? serviceUrl(services, delivery.deadLetterSink, undefined, `${where}: dead-letter sink`)
          : undefined,
        ordered: order === 'ordered',
        lane: createLane(concurrency),
      };
    });
}

function serviceUrl(services: Record<string, string>, name: string, path: string | undefined, where: string): string {
  const base = services[name];
  if (!base)
    throw new BrokerConfigError(
      `${where}: service ${name} is not running (known: ${Object.keys(services).join(', ') || 'none'})`,
    );
  return path ? new URL(path, base).toString() : base;
}

function usesCesql(filter: FilterExpression): boolean {
  if ('cesql' in filter) return true;
  if ('all' in filter) return filter.all.some(usesCesql);
  if ('any' in filter) return filter.any.some(usesCesql);
  if ('not' in filter) return usesCesql(filter.not);
  return false;
}
