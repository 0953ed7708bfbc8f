/**
 * Errors of the Iceberg REST endpoint in the Iceberg REST error model, `{"error":{"message","type","code"}}`, with
 * the statuses and exception type names real Nessie's catalog answers with — Iceberg clients pick their exception by
 * status, and show the type and message to people.
 */
import { NessieError } from '../../shared/catalog/nessie/errors.ts';
import { NotFoundError, StorageError } from '../../shared/storage/object-store.ts';

export interface IcebergErrorBody {
  error: { message: string; type: string; code: number };
}

export class IcebergRestError extends Error {
  readonly status: number;
  readonly type: string;

  constructor(status: number, type: string, message: string) {
    super(message);
    this.name = 'IcebergRestError';
    this.status = status;
    this.type = type;
  }

  toBody(): IcebergErrorBody {
    return { error: { message: this.message, type: this.type, code: this.status } };
  }
}

export const badRequest = (message: string) => new IcebergRestError(400, 'BadRequestException', message);
export const noSuchNamespace = (name: string) =>
  new IcebergRestError(404, 'NoSuchNamespaceException', `Namespace does not exist: ${name}`);
export const noSuchTable = (name: string) =>
  new IcebergRestError(404, 'NoSuchTableException', `Table does not exist: ${name}`);
/** What the Iceberg REST spec answers for an operation a server does not offer (its UnsupportedOperationResponse). */
export const unsupported = (message: string) => new IcebergRestError(406, 'UnsupportedOperationException', message);

/**
 * Any error of a request as the Iceberg error it is answered with. Nessie errors map as real Nessie maps them (an
 * unknown reference is a 400 NoSuchReferenceException there, not a 404); a metadata file that is missing from storage
 * is a 400 IllegalArgumentException (a bad location in the catalog, as Nessie reports it); anything else is a 500.
 */
export function toIcebergError(err: unknown): IcebergRestError {
  if (err instanceof IcebergRestError) return err;
  if (err instanceof NessieError) {
    switch (err.errorCode) {
      case 'BAD_REQUEST':
      case 'UNSUPPORTED_MEDIA_TYPE':
        return badRequest(err.message);
      case 'FORBIDDEN':
        return new IcebergRestError(403, 'NotAuthorizedException', err.message);
      case 'REFERENCE_NOT_FOUND':
        return new IcebergRestError(400, 'NoSuchReferenceException', err.message);
      default:
        return new IcebergRestError(err.status >= 400 ? err.status : 500, 'NessieException', err.message);
    }
  }
  if (err instanceof NotFoundError) return new IcebergRestError(400, 'IllegalArgumentException', err.message);
  if (err instanceof StorageError) return new IcebergRestError(500, 'StorageException', err.message);
  return new IcebergRestError(500, 'IllegalStateException', (err as Error)?.message ?? String(err));
}
