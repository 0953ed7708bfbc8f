/**
 * The event a PingSource sends on each tick (NOTES §3; eventing's mtping runner): type `dev.knative.sources.ping`,
 * source `/apis/v1/namespaces/<ns>/pingsources/<name>`, a random id, the send time, `spec.contentType` as the
 * content type, `data` (or the decoded `dataBase64`) as the data bytes, and the ceOverrides extensions.
 */
import { randomUUID } from 'node:crypto';
import type { CloudEventMessage } from '../../shared/events/cloudevent.ts';
import type { PingSource } from '../knative/manifests.ts';

export const PING_EVENT_TYPE = 'dev.knative.sources.ping';

export function pingEvent(source: PingSource, namespace: string, now: Date = new Date()): CloudEventMessage {
  const attributes: Record<string, string> = {
    specversion: '1.0',
    id: randomUUID(),
    source: `/apis/v1/namespaces/${namespace}/pingsources/${source.name}`,
    type: PING_EVENT_TYPE,
    time: now.toISOString(),
    ...source.extensions,
  };
  if (source.contentType) attributes.datacontenttype = source.contentType;
  const data =
    source.dataBase64 !== undefined ? Buffer.from(source.dataBase64, 'base64') : Buffer.from(source.data ?? '', 'utf8');
  return { attributes, data };
}
