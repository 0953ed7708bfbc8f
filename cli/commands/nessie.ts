/** `floe nessie` — runs the embedded Nessie-compatible catalog server until SIGINT/SIGTERM. */
import { intOption, stringOption, UsageError, type Command } from '../command.ts';
import { createLogger } from '../../shared/runtime/logger.ts';
import { startNessieServer } from '../../local/nessie/index.ts';
import { normalizeWarehouse } from '../../shared/runtime/env.ts';

export const command: Command = {
  name: 'nessie',
  summary: 'run the embedded Nessie-compatible catalog server (REST API v2, durable on disk)',
  description: [
    'Serves the Nessie REST API v2 subset floe and Iceberg use (references, commits, merges, contents, entries, log)',
    'at http://HOST:PORT/api, storing every acknowledged commit in DIR (write-ahead log, fsync). Point clients at the',
    'printed URI, e.g. NESSIE_URI=http://127.0.0.1:19120/api. Beside it, as real Nessie does, the read side of the',
    "Iceberg REST catalog API at http://HOST:PORT/iceberg (warehouse `warehouse`): other engines, e.g. PyIceberg's",
    'RestCatalog, list and load the tables there; a branch is chosen by the prefix (`/iceberg/<branch>`).',
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
    warehouse: {
      type: 'string',
      short: 'w',
      placeholder: 'LOCATION',
      description: 'the warehouse directory (or file:// URL) the Iceberg REST endpoint announces',
    },
    'default-branch': {
      type: 'string',
      placeholder: 'NAME',
      default: 'main',
      description: 'default branch of a new repository',
    },
  },
  examples: [
    'floe nessie --port 19120 --data .floe/nessie',
    'floe nessie --data .floe/nessie --warehouse .floe/warehouse   # Iceberg REST at http://127.0.0.1:19120/iceberg',
  ],
  async run({ values }) {
    const port = intOption(values, 'port', { min: 0, max: 65535 }) ?? 19120;
    const host = stringOption(values, 'host') ?? '127.0.0.1';
    const dataDir = stringOption(values, 'data');
    if (!dataDir) throw new UsageError('--data DIR is required');
    const warehouse = stringOption(values, 'warehouse');
    const logger = createLogger({ name: 'nessie' });
    const server = await startNessieServer({
      port,
      host,
      dataDir,
      logger,
      defaultBranch: stringOption(values, 'default-branch'),
      ...(warehouse ? { warehouse: normalizeWarehouse(warehouse) } : {}),
    });
    console.log(server.uri);
    logger.info({ uri: server.uri, iceberg: server.icebergUri, dataDir }, 'Nessie server listening');
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
