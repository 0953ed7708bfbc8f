/**
 * Logging: JSON lines in the cluster (what log shippers expect), readable lines on a terminal.
 * `FLOE_LOG_FORMAT=json|pretty` overrides the choice; `FLOE_LOG_LEVEL` sets the level (default info).
 */
import { pino, type Logger, type LoggerOptions } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

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
    return pino(config, pretty({ destination, colorize: Boolean((destination as NodeJS.WriteStream).isTTY), ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l', singleLine: true }));
  }
  return pino(config, destination);
}
