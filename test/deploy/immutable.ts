/**
 * Fields the Knative webhooks refuse to change on an existing object. A GitOps change to one of them fails the
 * sync (plan a delete + recreate instead). Compares two renders of the same overlay, e.g. the committed one and
 * the working tree.
 */
import { isDeepStrictEqual } from 'node:util';
import { groupKind, objectId, problem, type K8sObject, type Problem } from './problem.ts';

interface ImmutableField {
  path: string;
  read: (object: K8sObject) => unknown;
  /**
   * The webhook fills the field in when Git leaves it out, so the live object already holds a value the render does
   * not show: stating that value explicitly later is no change (on a cluster with another default the sync fails,
   * which no offline check can know).
   */
  defaulted?: boolean;
}

const IMMUTABLE: Record<string, ImmutableField[]> = {
  'eventing.knative.dev/Broker': [
    {
      path: 'metadata.annotations.eventing.knative.dev/broker.class',
      read: (o) => o.metadata?.annotations?.['eventing.knative.dev/broker.class'],
    },
    { path: 'spec.config', read: (o) => o.spec?.config, defaulted: true },
  ],
  'eventing.knative.dev/Trigger': [{ path: 'spec.broker', read: (o) => o.spec?.broker }],
  'sources.knative.dev/KafkaSource': [{ path: 'spec.consumerGroup', read: (o) => o.spec?.consumerGroup }],
};

export function immutableFieldChanges(before: readonly K8sObject[], after: readonly K8sObject[]): Problem[] {
  const key = (object: K8sObject) =>
    `${groupKind(object)}|${object.metadata?.namespace ?? ''}|${object.metadata?.name}`;
  const previous = new Map(before.map((object) => [key(object), object]));
  const problems: Problem[] = [];
  for (const object of after) {
    const old = previous.get(key(object));
    if (!old) continue;
    for (const field of IMMUTABLE[groupKind(object)] ?? []) {
      const was = field.read(old);
      const now = field.read(object);
      if (was === undefined && field.defaulted) continue;
      if (!isDeepStrictEqual(was, now)) {
        problems.push(
          problem(
            object,
            field.path,
            `immutable field changed (${JSON.stringify(was)} -> ${JSON.stringify(now)}); ${objectId(object)} must be deleted and recreated`,
          ),
        );
      }
    }
  }
  return problems;
}
