/**
 * Logging: JSON lines in the cluster (what log shippers expect), readable lines on a terminal.
 * `FLOE_LOG_FORMAT=json|pretty` overrides the choice; `FLOE_LOG_LEVEL` sets the level (default info).
 */
import { createRequire } from 'node:module';
import { pino, type Logger, type LoggerOptions } from 'pino';
import type PinoPretty from 'pino-pretty';

export type { Logger };

/** pino's levels: what `FLOE_LOG_LEVEL` may name. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogOptions {
  name?: string;
  level?: string;
  format?: 'json' | 'pretty';
  /** Write to this stream instead of stdout (tests). */
  destination?: NodeJS.WritableStream;
}

export function logFormat(destination: NodeJS.WritableStream = process.stdout): 'json' | 'pretty' {
  const wanted = process.env.FLOE_LOG_FORMAT;
  if (wanted === 'json' || wanted === 'pretty') return wanted;
  return (destination as NodeJS.WriteStream).isTTY && !process.env.KUBERNETES_SERVICE_HOST ? 'pretty' : 'json';
}

export function createLogger(options: LogOptions = {}): Logger {
  const config: LoggerOptions = {
    name: options.name,
    level: options.level ?? process.env.FLOE_LOG_LEVEL ?? 'info',
    serializers: { err: pino.stdSerializers.err },
    formatters: { level: (label) => ({ level: label }) },
  };
  const destination = options.destination ?? process.stdout;
  const format = options.format ?? logFormat(destination);
  if (format === 'pretty') {
    const pretty = loadPretty();
    if (pretty) {
      return pino(
        config,
        pretty({
          destination,
          colorize: Boolean((destination as NodeJS.WriteStream).isTTY),
          ignore: 'pid,hostname',
          translateTime: 'HH:MM:ss.l',
          singleLine: true,
        }),
      );
    }
    const logger = pino(config, destination);
    logger.warn('pino-pretty is not installed (a production install omits dev dependencies): logging JSON lines');
    return logger;
  }
  return pino(config, destination);
}

let prettyModule: typeof PinoPretty | null | undefined;

/**
 * pino-pretty is a dev dependency, loaded only when a logger actually pretty-prints: the function bundles and images
 * log JSON and must not carry it, and an install without dev dependencies still logs. A require made by createRequire
 * is opaque to esbuild, so the bundles never inline it.
 */
function loadPretty(): typeof PinoPretty | undefined {
  if (prettyModule === undefined) {
    try {
      const loaded = createRequire(import.meta.url)('pino-pretty') as
        typeof PinoPretty | { default: typeof PinoPretty };
      prettyModule = 'default' in loaded ? loaded.default : loaded;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error;
      prettyModule = null;
    }
  }
  return prettyModule ?? undefined;
}
