/**
 * CloudEvents over HTTP (binary and structured mode), with lossless JSON data.
 *
 * Why not `cloudevents`' HTTP binding alone: it parses JSON data with `JSON.parse`, which silently rounds the 64-bit
 * integers floe carries (Kafka offsets, snapshot ids, user ids in payloads). Here the data stays bytes until a handler
 * decodes it with `parseJson`; the `cloudevents` library still validates every event's attributes against the spec.
 */
import { randomUUID } from 'node:crypto';
import { CloudEvent, ValidationError as CloudEventValidationError } from 'cloudevents';
import { parseJson, stringifyJson } from '../util/lossless-json.ts';

export interface CloudEventMessage {
  /** Context attributes and extensions (`id`, `source`, `type`, `specversion`, `time`, `partitionkey`, …), as strings. */
  attributes: Record<string, string>;
  /** The data bytes; empty when the event has no data. */
  data: Uint8Array;
}

export class InvalidEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidEventError';
  }
}

const EXTENSION_NAME = /^[a-z0-9]+$/;
const encoder = new TextEncoder();

type HeaderValue = string | string[] | undefined;

function header(headers: Record<string, HeaderValue>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** Parses an HTTP request into a CloudEvent; throws `InvalidEventError` with the reason. */
export function fromHttp(headers: Record<string, HeaderValue>, body: Uint8Array): CloudEventMessage {
  const contentType = header(headers, 'content-type');
  if (contentType?.toLowerCase().startsWith('application/cloudevents-batch')) {
    throw new InvalidEventError('batched CloudEvents are not accepted; send one event per request');
  }
  const message = contentType?.toLowerCase().startsWith('application/cloudevents')
    ? fromStructured(body)
    : fromBinary(headers, body, contentType);
  validate(message.attributes);
  return message;
}

function fromBinary(
  headers: Record<string, HeaderValue>,
  body: Uint8Array,
  contentType: string | undefined,
): CloudEventMessage {
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (!lower.startsWith('ce-') || value === undefined) continue;
    // Header values are percent-encoded per the HTTP binding for characters outside printable ASCII.
    const text = Array.isArray(value) ? value.join(',') : value;
    attributes[lower.slice(3)] = safeDecode(text);
  }
  if (!attributes.specversion)
    throw new InvalidEventError('not a CloudEvent: no ce-specversion header and no structured content type');
  if (contentType) attributes.datacontenttype = contentType;
  return { attributes, data: body };
}

function safeDecode(text: string): string {
  // Nearly every value is plain ASCII: without a '%' there is nothing to decode.
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function fromStructured(body: Uint8Array): CloudEventMessage {
  let json: Record<string, unknown>;
  try {
    json = parseJson<Record<string, unknown>>(body);
  } catch (err) {
    throw new InvalidEventError(`structured CloudEvent is not valid JSON: ${(err as Error).message}`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json))
    throw new InvalidEventError('structured CloudEvent must be a JSON object');
  const attributes: Record<string, string> = {};
  let data = new Uint8Array(0);
  for (const [name, value] of Object.entries(json)) {
    if (name === 'data') {
      if (value === undefined || value === null) continue;
      data =
        typeof value === 'string' && !isJsonType(String(json.datacontenttype ?? 'application/json'))
          ? encoder.encode(value)
          : encoder.encode(stringifyJson(value));
    } else if (name === 'data_base64') {
      data = Uint8Array.from(Buffer.from(String(value), 'base64'));
    } else if (value !== null && value !== undefined) {
      attributes[name] =
        typeof value === 'string' ? value : typeof value === 'object' ? stringifyJson(value) : String(value);
    }
  }
  if (json.data !== undefined && json.data !== null && !attributes.datacontenttype)
    attributes.datacontenttype = 'application/json';
  return { attributes, data };
}

function validate(attributes: Record<string, string>): void {
  for (const name of Object.keys(attributes)) {
    if (!EXTENSION_NAME.test(name))
      throw new InvalidEventError(`invalid CloudEvent attribute name '${name}': must match [a-z0-9]+`);
  }
  try {
    new CloudEvent({ ...attributes }, true);
  } catch (err) {
    const detail =
      err instanceof CloudEventValidationError ? JSON.stringify(err.errors ?? err.message) : (err as Error).message;
    throw new InvalidEventError(`invalid CloudEvent: ${detail}`);
  }
}

export function isJsonType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const base = contentType.split(';')[0].trim().toLowerCase();
  return base === 'application/json' || base === 'text/json' || base.endsWith('+json');
}

/** The event's data as JSON (lossless), or undefined when there is none. Throws `InvalidEventError` when malformed. */
export function eventJson<T = unknown>(event: CloudEventMessage): T | undefined {
  if (event.data.byteLength === 0) return undefined;
  try {
    return parseJson<T>(event.data);
  } catch (err) {
    throw new InvalidEventError(`event ${event.attributes.id} data is not valid JSON: ${(err as Error).message}`);
  }
}

/** HTTP binary-mode headers and body for an event (what Knative brokers and KafkaSource send). */
export function toHttpBinary(event: CloudEventMessage): { headers: Record<string, string>; body: Uint8Array } {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.attributes)) {
    if (name === 'datacontenttype') headers['content-type'] = value;
    else headers[`ce-${name}`] = encodeHeader(value);
  }
  return { headers, body: event.data };
}

/** Percent-encodes what an HTTP header value cannot carry (the binding's rule for non-printable ASCII and `%`). */
function encodeHeader(value: string): string {
  return /^[\x20-\x24\x26-\x7e]*$/.test(value)
    ? value
    : value.replace(/[^\x20-\x24\x26-\x7e]/g, (c) => encodeURIComponent(c));
}

export interface NewEvent {
  type: string;
  source: string;
  subject?: string;
  id?: string;
  time?: Date;
  /** JSON data (serialized losslessly). */
  data?: unknown;
  /** Extension attributes (`[a-z0-9]+` names); undefined values are dropped. */
  extensions?: Record<string, string | number | bigint | boolean | undefined>;
}

export function createEvent(event: NewEvent): CloudEventMessage {
  const attributes: Record<string, string> = {
    specversion: '1.0',
    id: event.id ?? randomUUID(),
    source: event.source,
    type: event.type,
    time: (event.time ?? new Date()).toISOString(),
  };
  if (event.subject !== undefined) attributes.subject = event.subject;
  for (const [name, value] of Object.entries(event.extensions ?? {})) {
    if (value !== undefined) attributes[name] = String(value);
  }
  let data = new Uint8Array(0);
  if (event.data !== undefined) {
    attributes.datacontenttype = 'application/json';
    data = encoder.encode(stringifyJson(event.data));
  }
  validateCreated(attributes);
  return { attributes, data };
}

/** The sources of created events the SDK has validated: a process emits from a handful of fixed sources. */
const validSources = new Set<string>();
const VALID_SOURCES_KEPT = 256;

/**
 * The SDK's validation of an event this module builds, at a fraction of its cost (it copies, deletes from and freezes
 * an object and runs the JSON schema; once per event it was a tenth of the tagger's JavaScript): specversion, time
 * (toISOString) and datacontenttype are well-formed by construction and extension values are strings, so what a caller
 * can get wrong is an attribute name, an empty id, type or subject, and the source's URI-reference form — the full
 * validation runs for every source not seen yet.
 */
function validateCreated(attributes: Record<string, string>): void {
  if (!validSources.has(attributes.source)) {
    validate(attributes);
    if (validSources.size < VALID_SOURCES_KEPT) validSources.add(attributes.source);
    return;
  }
  for (const name of Object.keys(attributes)) {
    if (!EXTENSION_NAME.test(name))
      throw new InvalidEventError(`invalid CloudEvent attribute name '${name}': must match [a-z0-9]+`);
  }
  for (const name of ['id', 'type', 'subject'] as const) {
    if (attributes[name] === '') throw new InvalidEventError(`invalid CloudEvent: ${name} must not be empty`);
  }
}
