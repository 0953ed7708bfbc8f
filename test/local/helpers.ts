/** Real function hosts, manifests from YAML text, and waiting on conditions, for the local eventing plane's tests. */
import { Writable } from 'node:stream';
import { createEvent, type CloudEventMessage, type NewEvent } from '../../shared/events/cloudevent.ts';
import { HandlerError, startHost, type FunctionContext } from '../../shared/runtime/function-host.ts';
import { createLogger } from '../../shared/runtime/logger.ts';
import { parseManifests, parseYamlDocuments, type Manifests } from '../../local/knative/manifests.ts';

export const silent = createLogger({ format: 'json', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

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

export type Handler = (event: CloudEventMessage, context: FunctionContext) => Promise<CloudEventMessage | void> | CloudEventMessage | void;

/** A real floe function host on a free port running `handle`. */
export async function startFunction(name: string, handle: Handler = () => undefined, sink?: string): Promise<TestFunction> {
  const received: CloudEventMessage[] = [];
  const host = await startHost({
    fn: {
      name,
      async handle(context, event) {
        received.push(event);
        return handle(event, context);
      },
    },
    logger: silent,
    port: 0,
    host: '127.0.0.1',
    ...(sink ? { sink } : {}),
  });
  return { name, url: host.url, received, close: () => host.close() };
}

/** Replies to every event with a new event of `type` that keeps the `partitionkey`. */
export function replyWith(type: string): Handler {
  return (event) => createEvent({ type, source: `/test/${type}`, extensions: { partitionkey: event.attributes.partitionkey } });
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

/** Resolves once `check` holds, polling; fails with `what` after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export async function closeAll(items: { close(): Promise<void> }[]): Promise<void> {
  await Promise.all(items.map((item) => item.close()));
  items.length = 0;
}
