/**
 * `K_SINK` of a function in the local stack: the local Broker's ingress where a SinkBinding binds the function, as in
 * the cluster. The Broker answers once the event is in its Kafka topic, so a function that answers its own caller only
 * after its emit (the tagger, the KafkaSources' sink) hands over durably without waiting for the deliveries behind.
 */
import type { Manifests } from '../knative/manifests.ts';

export function functionSink(manifests: Manifests, service: string, brokerUrl: string): string | undefined {
  return manifests.sinkBindings.some((binding) => binding.subject === service) ? brokerUrl : undefined;
}
