/**
 * An API as the broker knows it: its key, the versions it serves, from which version on it is flexible, and the
 * request/response schemas. Request headers and response headers are encoded here too, since their version follows
 * from the API's flexibility.
 */
import { DecodeError, Reader } from './reader.ts';
import { Writer } from './writer.ts';
import type { Ctx, Infer, Input, StructType, Shape } from './schema.ts';

export interface ApiDef<Q extends Shape = Shape, R extends Shape = Shape> {
  key: number;
  name: string;
  minVersion: number;
  maxVersion: number;
  /** First flexible version; Infinity when every supported version uses the classic encodings. */
  flexibleFrom: number;
  request: StructType<Q>;
  response: StructType<R>;
}

export type RequestOf<A> = A extends ApiDef<infer Q, any> ? Infer<StructType<Q>> : never;
export type ResponseOf<A> = A extends ApiDef<any, infer R> ? Input<StructType<R>> : never;

export function defineApi<Q extends Shape, R extends Shape>(def: ApiDef<Q, R>): ApiDef<Q, R> {
  return def;
}

export function ctxFor(api: ApiDef<any, any>, version: number): Ctx {
  return { version, flexible: version >= api.flexibleFrom };
}

export function supports(api: ApiDef<any, any>, version: number): boolean {
  return version >= api.minVersion && version <= api.maxVersion;
}

export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
}

/** The fixed part of every request header (v0): enough to route a request or reject it. */
export function readHeaderStart(r: Reader): Pick<RequestHeader, 'apiKey' | 'apiVersion' | 'correlationId'> {
  return { apiKey: r.int16(), apiVersion: r.int16(), correlationId: r.int32() };
}

/**
 * The rest of the header: the client id (header v1, a classic nullable string even in flexible versions) and, for
 * flexible versions, tagged fields (header v2).
 */
export function readHeaderRest(r: Reader, flexible: boolean): string | null {
  const clientId = r.nullableString();
  if (flexible) skipTaggedFields(r);
  return clientId;
}

export function skipTaggedFields(r: Reader): void {
  const count = r.uvarint();
  for (let i = 0; i < count; i++) {
    r.uvarint();
    r.raw(r.uvarint(), 'tagged field');
  }
}

export function decodeRequest<Q extends Shape>(api: ApiDef<Q, any>, version: number, r: Reader): Infer<StructType<Q>> {
  if (!supports(api, version)) throw new DecodeError(`${api.name} v${version} is not supported`);
  return api.request.read(r, ctxFor(api, version));
}

/** Encodes a response body (without header). */
export function encodeResponse<R extends Shape>(
  api: ApiDef<any, R>,
  version: number,
  body: Input<StructType<R>>,
  w = new Writer(),
): Writer {
  api.response.write(w, body, ctxFor(api, version));
  return w;
}

/**
 * A whole response frame: size, correlation id, header tagged fields for flexible versions (header v1) — except
 * ApiVersions, whose response header stays v0 so that a client can read it before knowing the broker's versions.
 */
export function frameResponse(api: ApiDef<any, any>, version: number, correlationId: number, body: Writer): Buffer[] {
  const flexibleHeader = version >= api.flexibleFrom && api.key !== 18;
  const head = Buffer.allocUnsafe(flexibleHeader ? 9 : 8);
  head.writeInt32BE(body.length + head.length - 4, 0);
  head.writeInt32BE(correlationId, 4);
  if (flexibleHeader) head[8] = 0;
  return [head, ...body.chunkList()];
}
