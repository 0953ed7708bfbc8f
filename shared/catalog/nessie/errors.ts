/**
 * Nessie's error model (`NessieError` JSON body, `ErrorCode`) as typed exceptions. The client throws them for error
 * responses; the embedded server throws the same classes and serializes them back into the JSON body.
 */
import { CONFLICT_TYPES, type Conflict, type ContentKey } from './types.ts';

export const ERROR_CODES = [
  'UNKNOWN',
  'SERVICE_UNAVAILABLE',
  'REFERENCE_NOT_FOUND',
  'REFERENCE_ALREADY_EXISTS',
  'CONTENT_NOT_FOUND',
  'REFERENCE_CONFLICT',
  'BAD_REQUEST',
  'FORBIDDEN',
  'TOO_MANY_REQUESTS',
  'NAMESPACE_NOT_FOUND',
  'NAMESPACE_ALREADY_EXISTS',
  'NAMESPACE_NOT_EMPTY',
  'UNSUPPORTED_MEDIA_TYPE',
  'UNAUTHORIZED',
] as const;
/** Servers may add codes; unknown ones arrive as `UNKNOWN`. */
export type ErrorCode = (typeof ERROR_CODES)[number];

export type NessieErrorDetails =
  { type: 'REFERENCE_CONFLICTS'; conflicts: Conflict[] } | { type: 'CONTENT_KEY'; contentKey: ContentKey };

/** The JSON body of a Nessie error response. */
export interface NessieErrorBody {
  status: number;
  reason: string;
  message: string;
  errorCode: ErrorCode;
  serverStackTrace?: string | null;
  errorDetails?: NessieErrorDetails;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Error';
}

/** An error the Nessie server answered with (or, on the server side, will answer with). */
export class NessieError extends Error {
  readonly status: number;
  readonly errorCode: ErrorCode;
  readonly reason: string;
  readonly details?: NessieErrorDetails;

  constructor(status: number, errorCode: ErrorCode, message: string, details?: NessieErrorDetails) {
    super(message);
    this.name = 'NessieError';
    this.status = status;
    this.errorCode = errorCode;
    this.reason = reasonPhrase(status);
    this.details = details;
  }

  /** The JSON body; `errorDetails` only for clients that sent `Nessie-Client-Spec: 2`, like Nessie does. */
  toBody(includeDetails = true): NessieErrorBody {
    return {
      status: this.status,
      reason: this.reason,
      message: this.message,
      errorCode: this.errorCode,
      ...(includeDetails && this.details ? { errorDetails: this.details } : {}),
    };
  }
}

export class NessieBadRequestError extends NessieError {
  constructor(message: string, status = 400) {
    super(status, 'BAD_REQUEST', message);
    this.name = 'NessieBadRequestError';
  }
}

/** `REFERENCE_NOT_FOUND`, `CONTENT_NOT_FOUND` or `NAMESPACE_NOT_FOUND`. */
export class NessieNotFoundError extends NessieError {
  constructor(
    errorCode: 'REFERENCE_NOT_FOUND' | 'CONTENT_NOT_FOUND' | 'NAMESPACE_NOT_FOUND',
    message: string,
    details?: NessieErrorDetails,
  ) {
    super(404, errorCode, message, details);
    this.name = 'NessieNotFoundError';
  }
}

export class NessieAlreadyExistsError extends NessieError {
  constructor(message: string) {
    super(409, 'REFERENCE_ALREADY_EXISTS', message);
    this.name = 'NessieAlreadyExistsError';
  }
}

/**
 * A 409 `REFERENCE_CONFLICT`. With `conflicts` (per key: VALUE_DIFFERS, KEY_EXISTS, NAMESPACE_ABSENT, UNEXPECTED_HASH …)
 * the operation was rejected and must be re-planned; an empty list means the server gave up retrying its own internal
 * compare-and-swap, nothing was written, and the same request may simply be sent again.
 */
export class NessieReferenceConflictError extends NessieError {
  readonly conflicts: Conflict[];

  constructor(message: string, conflicts: Conflict[]) {
    super(
      409,
      'REFERENCE_CONFLICT',
      message,
      conflicts.length ? { type: 'REFERENCE_CONFLICTS', conflicts } : undefined,
    );
    this.name = 'NessieReferenceConflictError';
    this.conflicts = conflicts;
  }

  /** True for Nessie's retry-budget exhaustion: no conflict list, nothing applied, safe to send again. */
  get retryable(): boolean {
    return this.conflicts.length === 0;
  }
}

/**
 * No (complete) answer: connection refused, reset, or timed out. `outcomeUnknown` is true when the request may have
 * reached the server, i.e. a write may or may not have been applied — re-read the reference before acting on it.
 */
export class NessieTransportError extends Error {
  readonly outcomeUnknown: boolean;

  constructor(message: string, outcomeUnknown: boolean, cause?: unknown) {
    super(message, { cause });
    this.name = 'NessieTransportError';
    this.outcomeUnknown = outcomeUnknown;
  }
}

function asErrorCode(value: unknown, status: number): ErrorCode {
  if (typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value)) return value as ErrorCode;
  if (value === undefined) {
    const byStatus: Record<number, ErrorCode> = {
      400: 'BAD_REQUEST',
      401: 'UNAUTHORIZED',
      403: 'FORBIDDEN',
      415: 'UNSUPPORTED_MEDIA_TYPE',
      429: 'TOO_MANY_REQUESTS',
      503: 'SERVICE_UNAVAILABLE',
    };
    return byStatus[status] ?? 'UNKNOWN';
  }
  return 'UNKNOWN';
}

function asConflicts(value: unknown): Conflict[] {
  if (!Array.isArray(value)) return [];
  return value
    .filter((c) => c && typeof c === 'object')
    .map((c: Record<string, unknown>) => ({
      conflictType: (CONFLICT_TYPES as readonly string[]).includes(c.conflictType as string)
        ? (c.conflictType as Conflict['conflictType'])
        : 'UNKNOWN',
      ...(c.key && typeof c.key === 'object' && Array.isArray((c.key as ContentKey).elements)
        ? { key: { elements: (c.key as ContentKey).elements.map(String) } }
        : {}),
      message: typeof c.message === 'string' ? c.message : '',
    }));
}

/** The typed error for a server's error response; `body` is the parsed JSON body, or undefined if there was none. */
export function errorFromResponse(status: number, body: unknown, fallbackMessage: string): NessieError {
  const json = body && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  const errorCode = asErrorCode(json.errorCode, status);
  const message = typeof json.message === 'string' && json.message ? json.message : fallbackMessage;
  const details =
    json.errorDetails && typeof json.errorDetails === 'object'
      ? (json.errorDetails as Record<string, unknown>)
      : undefined;
  switch (errorCode) {
    case 'REFERENCE_CONFLICT':
      return new NessieReferenceConflictError(
        message,
        details?.type === 'REFERENCE_CONFLICTS' ? asConflicts(details.conflicts) : [],
      );
    case 'REFERENCE_ALREADY_EXISTS':
      return new NessieAlreadyExistsError(message);
    case 'REFERENCE_NOT_FOUND':
    case 'CONTENT_NOT_FOUND':
    case 'NAMESPACE_NOT_FOUND':
      return new NessieNotFoundError(
        errorCode,
        message,
        details?.type === 'CONTENT_KEY' ? (details as NessieErrorDetails) : undefined,
      );
    case 'BAD_REQUEST':
      return new NessieBadRequestError(message, status);
    default:
      return new NessieError(status, errorCode, message);
  }
}
