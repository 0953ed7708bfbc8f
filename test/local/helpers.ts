/** Real function hosts and manifests from YAML text, for the local eventing plane's tests. */
import { createEvent, type CloudEventMessage, type NewEvent } from '../../shared/events/cloudevent.ts';
import { HandlerError, startHost, type FunctionContext } from '../../shared/runtime/function-host.ts';
import { silentLogger } from '../helpers/silent-logger.ts';
import { parseManifests, parseYamlDocuments, type Manifests } from '../../local/knative/manifests.ts';

export function manifestsFrom(yaml: string): Manifests {
  return parseManifests(parseYamlDocuments(yaml, 'test manifests'));
}

export interface TestFunction {
  name: string;
  url: string;
  /** Every event the function received, in arrival order. */
  received: CloudEventMessage[];
  close(): Promise<void>;
}

export type Handler = (
  event: CloudEventMessage,
  context: FunctionContext,
) => Promise<CloudEventMessage | void> | CloudEventMessage | void;

/** A real floe function host on a free port running `handle`. */
export async function startFunction(
  name: string,
  handle: Handler = () => undefined,
  sink?: string,
): Promise<TestFunction> {
  const received: CloudEventMessage[] = [];
  const host = await startHost({
    fn: {
      name,
      async handle(context, event) {
        received.push(event);
        return handle(event, context);
      },
    },
    logger: silentLogger,
    port: 0,
    host: '127.0.0.1',
    ...(sink ? { sink } : {}),
  });
  return { name, url: host.url, received, close: () => host.close() };
}

/** Replies to every event with a new event of `type` that keeps the `partitionkey`. */
export function replyWith(type: string): Handler {
  return (event) =>
    createEvent({ type, source: `/test/${type}`, extensions: { partitionkey: event.attributes.partitionkey } });
}

/** Answers `status` for the first `times` events, then succeeds (no reply). */
export function failing(status: number, times = Infinity): Handler {
  let failures = 0;
  return () => {
    if (failures++ < times) throw new HandlerError(status, `failure ${failures} of the test function`);
  };
}

/** Holds every request until `open()` (a writer waiting for its group commit). */
export function gate(): { handler: Handler; wait(): Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { handler: () => opened, wait: () => opened, open: () => open() };
}

export function event(fields: Partial<NewEvent> & { type: string }): CloudEventMessage {
  return createEvent({ source: '/test', ...fields });
}

export async function closeAll(items: { close(): Promise<void> }[]): Promise<void> {
  await Promise.all(items.map((item) => item.close()));
  items.length = 0;
}
