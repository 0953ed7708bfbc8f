/** `floe dashboard` — serves the lakehouse dashboard for the pipeline the environment (or the local stack) points at. */
import { intOption, listOption, stringOption, UsageError, type Command } from '../command.ts';
import { openCommandCatalog } from '../catalog.ts';
import { LOCAL_PORTS } from '../local-env.ts';
import { parseFunctionUrls } from '../../dashboard/function-metrics.ts';
import { startDashboard } from '../../dashboard/server.ts';
import { createLogger } from '../../shared/runtime/logger.ts';

export const command: Command = {
  name: 'dashboard',
  summary: 'serve the lakehouse dashboard: tables, WAP branches, functions, maintenance, a table browser',
  description: [
    'One read-only page (and its JSON API under /api, see dashboard/README.md) built from the Iceberg and',
    'Nessie metadata floe writes: rows over time, trusted vs untrusted, file sizes, WAP branches by stage, publish',
    'latency, events per function, dead letters, maintenance runs, and the newest rows of any table on any ref.',
    'Catalog and warehouse come from NESSIE_URI / FLOE_WAREHOUSE / S3_* (default: the local stack under FLOE_HOME;',
    'when its catalog does not answer, the files under FLOE_HOME/nessie read-only, as they were at start).',
    "Function metrics are read from FLOE_FUNCTION_URLS ('tagger=http://…,writer=http://…') plus every --function.",
    'There is no login: keep the default host 127.0.0.1 unless something in front of it authenticates.',
  ].join('\n'),
  options: {
    port: {
      type: 'string',
      short: 'p',
      placeholder: 'PORT',
      default: String(LOCAL_PORTS.dashboard),
      description: 'TCP port (0 picks a free one)',
    },
    host: { type: 'string', placeholder: 'HOST', default: '127.0.0.1', description: 'address to listen on' },
    function: {
      type: 'string',
      multiple: true,
      placeholder: 'NAME=URL',
      description: 'a function whose /metrics to show, e.g. writer=http://127.0.0.1:8101',
    },
  },
  examples: ['floe dashboard', 'floe dashboard --port 8080 --host 0.0.0.0 --function writer=http://127.0.0.1:8101'],
  async run({ values }) {
    const port = intOption(values, 'port', { min: 0, max: 65535 }) ?? LOCAL_PORTS.dashboard;
    const host = stringOption(values, 'host') ?? '127.0.0.1';
    let functions: Record<string, string>;
    try {
      functions = { ...parseFunctionUrls(process.env.FLOE_FUNCTION_URLS) };
    } catch (err) {
      throw new Error(`FLOE_FUNCTION_URLS: ${(err as Error).message}`);
    }
    try {
      Object.assign(functions, parseFunctionUrls(listOption(values, 'function').join(',')));
    } catch (err) {
      throw new UsageError(`--function: ${(err as Error).message}`);
    }
    const opened = await openCommandCatalog({ access: 'read' });
    try {
      const { env, catalog } = opened;
      const log = createLogger({ name: 'dashboard' });
      const dashboard = await startDashboard({
        catalog,
        io: catalog.io,
        warehouse: env.warehouse,
        functions,
        config: env.pipeline,
        port,
        host,
        logger: log,
      });
      console.log(`floe dashboard: ${dashboard.url}`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log.info({ signal }, 'stopping the dashboard');
          dashboard.stop().then(resolve, resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    } finally {
      await opened.close();
    }
    return 0;
  },
};
