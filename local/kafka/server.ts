/**
 * The TCP side: size-prefixed frames in, size-prefixed frames out, one request at a time per connection (as Kafka
 * does, so responses keep request order and a parked fetch holds back that connection only).
 *
 * Bad input never takes the broker down: a frame size below zero or above `maxRequestBytes` (garbage, a wrong
 * protocol), an unknown API key, an unsupported version (except ApiVersions), or a body that does not decode closes
 * that connection, as Kafka closes it; an unsupported ApiVersions version gets the UNSUPPORTED_VERSION answer
 * (v0 layout, listing our versions) that lets a newer client downgrade.
 */
import net from 'node:net';
import type { Broker } from './broker.ts';
import {
  decodeRequest,
  encodeResponse,
  frameResponse,
  readHeaderRest,
  readHeaderStart,
  supports,
  type RequestHeader,
} from './protocol/api.ts';
import { apiByKey } from './protocol/apis/index.ts';
import { apiVersions } from './protocol/apis/api-versions.ts';
import { ErrorCode } from './protocol/errors.ts';
import { DecodeError, Reader } from './protocol/reader.ts';
import { supportedApiKeys } from './handlers/admin.ts';
import { handlers } from './handlers/index.ts';

export interface KafkaServer {
  server: net.Server;
  sockets: Set<net.Socket>;
}

export function startServer(broker: Broker, host: string, port: number): Promise<KafkaServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => serveConnection(broker, socket, sockets));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      server.on('error', (err) => broker.logger.error({ err }, 'kafka server error'));
      resolve({ server, sockets });
    });
  });
}

export async function stopServer(s: KafkaServer): Promise<void> {
  const closed = new Promise<void>((resolve) => s.server.close(() => resolve()));
  for (const socket of s.sockets) socket.destroy();
  await closed;
}

function serveConnection(broker: Broker, socket: net.Socket, sockets: Set<net.Socket>): void {
  sockets.add(socket);
  socket.setNoDelay(true);
  const clientHost = `/${socket.remoteAddress ?? 'unknown'}`;
  const peer = `${socket.remoteAddress}:${socket.remotePort}`;
  const closing = new AbortController();
  const signal = AbortSignal.any([closing.signal, broker.stopping.signal]);
  const queue: Buffer[] = [];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let busy = false;

  const fail = (message: string, extra: Record<string, unknown> = {}) => {
    broker.logger.warn({ peer, ...extra }, `closing connection: ${message}`);
    socket.destroy();
  };

  socket.on('data', (chunk) => {
    pending.push(chunk);
    pendingBytes += chunk.length;
    while (pendingBytes >= 4) {
      const head = pending[0].length >= 4 ? pending[0] : Buffer.concat(pending);
      const size = head.readInt32BE(0);
      if (size < 0 || size > broker.config.maxRequestBytes)
        return fail(`request size ${size} is outside 0..${broker.config.maxRequestBytes}`);
      if (pendingBytes < 4 + size) break;
      const all = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
      queue.push(all.subarray(4, 4 + size));
      const rest = all.subarray(4 + size);
      pending = rest.length ? [rest] : [];
      pendingBytes = rest.length;
    }
    if (queue.length > 64) socket.pause();
    void drain();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    sockets.delete(socket);
    closing.abort();
  });

  async function drain(): Promise<void> {
    if (busy) return;
    busy = true;
    try {
      while (queue.length && !socket.destroyed) {
        const frame = queue.shift()!;
        if (queue.length < 16 && socket.isPaused()) socket.resume();
        const response = await handleFrame(broker, frame, clientHost, signal).catch((err: unknown) => {
          if (err instanceof DecodeError) fail(`malformed request: ${err.message}`);
          else {
            broker.logger.error({ err, peer }, 'request handler failed');
            socket.destroy();
          }
          return null;
        });
        if (response === 'close') return void socket.destroy();
        if (response && !socket.destroyed) {
          socket.cork();
          for (const chunk of response) socket.write(chunk);
          socket.uncork();
        }
      }
    } finally {
      busy = false;
    }
  }

  async function handleFrame(
    broker: Broker,
    frame: Buffer,
    clientHost: string,
    signal: AbortSignal,
  ): Promise<Buffer[] | null | 'close'> {
    const r = new Reader(frame);
    const start = readHeaderStart(r);
    const api = apiByKey.get(start.apiKey);
    if (!api) {
      fail(`unknown API key ${start.apiKey}`, { correlationId: start.correlationId });
      return 'close';
    }
    if (!supports(api, start.apiVersion)) {
      if (api.key === apiVersions.key) return unsupportedApiVersions(start.correlationId);
      fail(`${api.name} v${start.apiVersion} is not supported (v${api.minVersion}-${api.maxVersion})`);
      return 'close';
    }
    const flexible = start.apiVersion >= api.flexibleFrom;
    const header: RequestHeader = { ...start, clientId: readHeaderRest(r, flexible) };
    const request = decodeRequest(api, start.apiVersion, r);
    const entry = handlers.get(api.key)!;
    const body = await entry.handle({ broker, header, clientHost, signal }, request, start.apiVersion);
    if (body === null) return null;
    return frameResponse(api, start.apiVersion, start.correlationId, encodeResponse(api, start.apiVersion, body));
  }
}

/** Kafka's answer to an ApiVersions version it does not know: error 35 and its versions, in the v0 layout. */
function unsupportedApiVersions(correlationId: number): Buffer[] {
  const body = encodeResponse(apiVersions, 0, {
    errorCode: ErrorCode.UNSUPPORTED_VERSION,
    apiKeys: supportedApiKeys(),
  });
  return frameResponse(apiVersions, 0, correlationId, body);
}
