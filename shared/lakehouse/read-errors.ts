/**
 * The dashboard API's errors: a bad request (400) or a table/ref/blob that does not exist (404) says so in
 * `{ error }`; the catalog being unreachable is a 502; anything else (e.g. a table whose metadata file is gone) a 500.
 */
import {
  NessieBadRequestError,
  NessieError,
  NessieNotFoundError,
  NessieTransportError,
} from '../catalog/nessie/index.ts';
import { FilterSyntaxError } from '../iceberg/filter-syntax.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, message);
}

export function notFound(message: string): ApiError {
  return new ApiError(404, message);
}

/** The status and message an error is answered with. */
export function errorResponse(err: unknown): { status: number; error: string } {
  const message = (err as Error)?.message ?? String(err);
  if (err instanceof ApiError) return { status: err.status, error: message };
  if (err instanceof FilterSyntaxError) return { status: 400, error: `where: ${message}` };
  if (err instanceof NessieNotFoundError) return { status: 404, error: message };
  if (err instanceof NessieBadRequestError) return { status: 400, error: message };
  if (err instanceof NessieTransportError || (err instanceof NessieError && err.status >= 500))
    return { status: 502, error: `catalog unavailable: ${message}` };
  return { status: 500, error: message };
}
