/**
 * Claim-check blobs for the table browser's thumbnails. Only URIs under the warehouse's blob prefix are served, with
 * plain path segments (no `.`/`..`, no encoded or odd characters), so the endpoint cannot read any other file the
 * dashboard's storage reaches. Images are served as what their bytes say they are; anything else only as a download.
 */
import { badRequest, ApiError, notFound } from '../shared/lakehouse/read-errors.ts';
import type { ReadContext } from '../shared/lakehouse/read-context.ts';
import { imageType } from '../shared/events/media-type.ts';

export const MAX_BLOB_BYTES = 64 * 1024 * 1024;

const SEGMENT = /^[A-Za-z0-9_=+-][A-Za-z0-9_.=+-]*$/;

export function blobPrefix(ctx: Pick<ReadContext, 'warehouse' | 'config'>): string {
  return `${ctx.warehouse}${ctx.config.claimCheck.prefix.replace(/^\/+/, '')}`;
}

/** The URI if it names an object under the blob prefix; a 400 otherwise. */
export function checkBlobUri(ctx: Pick<ReadContext, 'warehouse' | 'config'>, uri: string | null): string {
  if (!uri) throw badRequest('uri is required');
  const prefix = blobPrefix(ctx);
  if (!uri.startsWith(prefix)) throw badRequest(`uri must be a claim-check blob under ${prefix}`);
  const segments = uri.slice(prefix.length).split('/');
  if (!segments.length || segments.some((s) => !SEGMENT.test(s) || s === '.' || s === '..'))
    throw badRequest('uri has a path segment that is not allowed');
  return uri;
}

export async function readBlob(
  ctx: ReadContext,
  rawUri: string | null,
): Promise<{ bytes: Uint8Array; contentType: string; image: boolean }> {
  const uri = checkBlobUri(ctx, rawUri);
  const head = await ctx.io.head(uri);
  if (!head) throw notFound(`blob ${uri} does not exist`);
  if (head.size > MAX_BLOB_BYTES)
    throw new ApiError(413, `blob ${uri} is ${head.size} bytes, more than the ${MAX_BLOB_BYTES} the dashboard serves`);
  const bytes = await ctx.io.read(uri);
  const type = imageType(bytes);
  return { bytes, contentType: type ?? 'application/octet-stream', image: type !== undefined };
}
