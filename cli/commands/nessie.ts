/** `floe nessie` — runs the embedded Nessie-compatible catalog server until SIGINT/SIGTERM. */
import { intOption, stringOption, UsageError, type Command } from '../command.ts';
import { createLogger } from '../../shared/runtime/logger.ts';
import { startNessieServer } from '../../local/nessie/index.ts';

export const command: Command = {
  name: 'nessie',
  summary: 'run the embedded Nessie-compatible catalog server (REST API v2, durable on disk)',
  description: [
    'Serves the Nessie REST API v2 subset floe and Iceberg use (references, commits, merges, contents, entries, log)',
    'at http://HOST:PORT/api, storing every acknowledged commit in DIR (write-ahead log, fsync). Point clients at the',
    'printed URI, e.g. NESSIE_URI=http://127.0.0.1:19120/api.',
  ].join('\n'),
  options: {
    port: {
      type: 'string',
      short: 'p',
      placeholder: 'PORT',
      default: '19120',
      description: 'TCP port (0 picks a free one)',
    },
    host: { type: 'string', placeholder: 'HOST', default: '127.0.0.1', description: 'address to listen on' },
    data: {
      type: 'string',
      short: 'd',
      placeholder: 'DIR',
      description: 'data directory (created if missing); required',
    },
    'default-branch': {
      type: 'string',
      placeholder: 'NAME',
      default: 'main',
      description: 'default branch of a new repository',
    },
  },
  examples: ['floe nessie --port 19120 --data .floe/nessie'],
  async run({ values }) {
    const port = intOption(values, 'port', { min: 0, max: 65535 }) ?? 19120;
    const host = stringOption(values, 'host') ?? '127.0.0.1';
    const dataDir = stringOption(values, 'data');
    if (!dataDir) throw new UsageError('--data DIR is required');
    const logger = createLogger({ name: 'nessie' });
    const server = await startNessieServer({
      port,
      host,
      dataDir,
      logger,
      defaultBranch: stringOption(values, 'default-branch'),
    });
    console.log(server.uri);
    logger.info({ uri: server.uri, dataDir }, 'Nessie server listening');
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        logger.info({ signal }, 'stopping Nessie server');
        server.stop().then(resolve, resolve);
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    return 0;
  },
};
