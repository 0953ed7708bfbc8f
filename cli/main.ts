/**
 * `floe` — dispatches to a subcommand. Commands are loaded lazily so `floe --help` and small commands start fast.
 */
import { parseCommandArgs, usage, UsageError, type Command } from './command.ts';

/** name → module loader; each module exports `command`. Later issues add commands here. */
const commands: Record<string, () => Promise<{ command: Command }>> = {
  start: () => import('./commands/start.ts'),
  simulate: () => import('./commands/simulate.ts'),
  tables: () => import('./commands/tables.ts'),
  maintain: () => import('./commands/maintain.ts'),
  branches: () => import('./commands/branches.ts'),
  inspect: () => import('./commands/inspect.ts'),
  scan: () => import('./commands/scan.ts'),
  kafka: () => import('./commands/kafka.ts'),
  nessie: () => import('./commands/nessie.ts'),
  dashboard: () => import('./commands/dashboard.ts'),
  deadletter: () => import('./commands/deadletter.ts'),
  sql: () => import('./commands/sql.ts'),
  tag: () => import('./commands/tag.ts'),
};

function mainUsage(): string {
  return [
    'Usage: floe <command> [options]',
    '',
    'floe ingests Kafka events into audited Apache Iceberg tables (Write-Audit-Publish on Nessie branches).',
    '',
    'Commands:',
    ...Object.keys(commands).map((name) => `  ${name}`),
    '',
    "Run 'floe <command> --help' for a command's options.",
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(await describeAll());
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    console.error(`floe: unknown command '${name}'\n\n${await describeAll()}`);
    return 2;
  }
  const { command } = await load();
  try {
    const args = parseCommandArgs(command, rest);
    if (args === 'help') {
      console.log(usage(command));
      return 0;
    }
    return (await command.run(args)) ?? 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`floe ${name}: ${err.message}\n\n${usage(command)}`);
      return 2;
    }
    const message = (err as Error)?.message ?? String(err);
    const hint = /ECONNREFUSED/.test(message)
      ? '\n(nothing answers there: start the local stack with `npm start`, or set NESSIE_URI / KAFKA_BROKERS to yours)'
      : '';
    console.error(`floe ${name}: ${message}${hint}`);
    if (process.env.FLOE_DEBUG) console.error(err);
    return 1;
  }
}

async function describeAll(): Promise<string> {
  const lines = mainUsage().split('\n');
  const summaries = await Promise.all(
    Object.entries(commands).map(async ([name, load]) => [name, (await load()).command.summary] as const),
  );
  return lines
    .map((line) => {
      const match = /^ {2}(\S+)$/.exec(line);
      const summary = match && summaries.find(([name]) => name === match[1]);
      return summary ? `  ${summary[0].padEnd(12)} ${summary[1]}` : line;
    })
    .join('\n');
}
