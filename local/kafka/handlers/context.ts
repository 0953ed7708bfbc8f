/** What a request handler gets besides its decoded request. */
import type { ApiDef, RequestHeader, RequestOf, ResponseOf } from '../protocol/api.ts';
import type { Broker } from '../broker.ts';

export interface RequestContext {
  broker: Broker;
  header: RequestHeader;
  /** The client's address, as DescribeGroups reports it. */
  clientHost: string;
  /** Aborted when the connection closes or the broker stops. */
  signal: AbortSignal;
}

/** Returns the response body, or null when no response is due (produce with acks=0). */
export type Handler<A extends ApiDef<any, any>> = (
  ctx: RequestContext,
  request: RequestOf<A>,
  version: number,
) => Promise<ResponseOf<A> | null> | ResponseOf<A> | null;

export interface HandlerEntry<A extends ApiDef<any, any> = ApiDef<any, any>> {
  api: A;
  handle: Handler<A>;
}

export function handler<A extends ApiDef<any, any>>(api: A, handle: Handler<A>): HandlerEntry<A> {
  return { api, handle };
}
