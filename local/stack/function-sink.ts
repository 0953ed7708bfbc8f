/**
 * `K_SINK` of a function in the local stack: the local Broker's ingress where a SinkBinding binds the function, as in
 * the cluster. A KafkaSource's own sink (floe's tagger) gets the ingress asking for `floe-ack=delivered`: the
 * KafkaSource stand-in commits a record's offset on that function's answer, and the in-memory Broker is no durable
 * log, so the function must answer only once what it emitted was delivered (local/broker/index.ts).
 */
import { ACK_HEADER } from '../broker/index.ts';
import type { Manifests } from '../knative/manifests.ts';

export function functionSink(manifests: Manifests, service: string, brokerUrl: string): string | undefined {
  if (!manifests.sinkBindings.some((binding) => binding.subject === service)) return undefined;
  const feedsOnKafka = manifests.kafkaSources.some(
    (source) => source.sink.kind === 'Service' && source.sink.name === service,
  );
  return feedsOnKafka ? `${brokerUrl}/?${ACK_HEADER}=delivered` : brokerUrl;
}
