/** `floe maintain <job>` — runs one table-maintenance job on demand, exactly as the compactor and janitor do. */
import { listOption, stringOption, durationOption, UsageError, type Command } from '../command.ts';
import { openCommandCatalog } from '../catalog.ts';
import { tableKey } from '../../shared/catalog/table-catalog.ts';
import { BIN_PACK_OPTIONS } from '../../shared/iceberg/rewrite-data.ts';
import { runJob, type JobRequest, type JobRun } from '../../shared/maintenance/maintenance-jobs.ts';
import { JOBS, type Job } from '../../shared/maintenance/run-report.ts';
import { maintenanceSettings } from '../../shared/maintenance/maintenance-settings.ts';
import { createEmitter } from '../../shared/runtime/event-emitter.ts';
import { createLogger } from '../../shared/runtime/logger.ts';
import { stringifyJson } from '../../shared/util/lossless-json.ts';

const TABLE_JOBS: Job[] = ['compact', 'expire', 'manifests'];

export const command: Command = {
  name: 'maintain',
  summary: 'table maintenance: compaction, snapshot expiry, manifest rewrite, orphan files, stale WAP branches',
  description: [
    'Jobs:',
    '  compact    bin-pack small data files per partition into target-size files (write.target-file-size-bytes);',
    '             a time partition still filling only in size tiers, merged whole once its hour/day/month has ended',
    '  expire     expire snapshots of main by age and count (history.expire.max-snapshot-age-ms, else FLOE_SNAPSHOT_MAX_AGE,',
    '             default 1h, or --older-than; min-snapshots-to-keep)',
    '  manifests  merge small manifests toward commit.manifest.target-size-bytes',
    '  orphans    delete files no Nessie branch or tag reaches, older than the grace period (--older-than, default 3d)',
    '  branches   delete stale wap/ branches and re-drive stalled batches (re-emitted to --sink / K_SINK)',
    'Table jobs work on every table on main unless --table is given. Connects with NESSIE_URI / FLOE_WAREHOUSE /',
    "S3_* (the local stack's defaults when unset; when the local stack does not answer, the catalog files under",
    'FLOE_HOME/nessie: read-only with --dry-run). Every run writes a report to <warehouse>_floe/maintenance/.',
    'Exits 1 when the run reported errors.',
  ].join('\n'),
  positionals: [{ name: 'job', required: true, description: JOBS.join(' | ') }],
  options: {
    table: {
      type: 'string',
      multiple: true,
      placeholder: 'NS.TABLE',
      description: 'compact/expire/manifests: only this table',
    },
    'dry-run': {
      type: 'boolean',
      description: 'plan and report, change nothing (orphans: list what would be deleted, with sizes)',
    },
    'older-than': {
      type: 'string',
      placeholder: 'AGE',
      description: 'orphans: grace period (default FLOE_ORPHAN_GRACE or 3d); expire: maximum snapshot age',
    },
    option: {
      type: 'string',
      multiple: true,
      placeholder: 'KEY=VALUE',
      description: `compact: rewrite option (${BIN_PACK_OPTIONS.join(', ')})`,
    },
    sink: {
      type: 'string',
      placeholder: 'URL',
      description:
        'branches: where re-driven events go (default K_SINK; without one stalled batches are only reported)',
    },
    json: { type: 'boolean', description: 'print one JSON line instead of the summary' },
  },
  examples: [
    'floe maintain compact --table production.parking_entry --dry-run',
    'floe maintain compact --option min-input-files=2',
    'floe maintain expire --older-than 1d',
    'floe maintain orphans --dry-run --older-than 7d',
    'floe maintain branches --sink http://127.0.0.1:8080/',
  ],
  async run({ values, positionals }) {
    const request = parseRequest(positionals[0], values);
    const sink = stringOption(values, 'sink');
    const json = values.json === true;
    const settings = maintenanceSettings();
    const opened = await openCommandCatalog({ access: request.dryRun ? 'read' : 'write' });
    let run: JobRun;
    try {
      const { env, catalog } = opened;
      const log = createLogger({
        name: 'maintain',
        level: process.env.FLOE_LOG_LEVEL ?? 'warn',
        destination: process.stderr,
      });
      const target = sink ?? env.sink;
      let lastProgress = 0;
      run = await runJob(
        {
          catalog,
          config: env.pipeline,
          log,
          settings,
          ...(target ? { emit: createEmitter(target) } : {}),
          onProgress: (message) => {
            if (json || Date.now() - lastProgress < 1000) return;
            lastProgress = Date.now();
            process.stderr.write(`… ${message}\n`);
          },
        },
        request,
      );
    } finally {
      await opened.close();
    }
    console.log(
      json
        ? stringifyJson({
            ...run.report,
            reportLocation: run.reportLocation,
            ...(run.orphans ? { orphans: run.orphans.orphans } : {}),
            catalog: opened.source,
          })
        : summary(run),
    );
    return run.report.errors.length ? 1 : 0;
  },
};

function parseRequest(job: string, values: Parameters<Command['run']>[0]['values']): JobRequest {
  if (!(JOBS as readonly string[]).includes(job))
    throw new UsageError(`unknown job '${job}' (expected ${JOBS.join(', ')})`);
  const request: JobRequest = { job: job as Job, dryRun: values['dry-run'] === true };
  const tables = listOption(values, 'table');
  if (tables.length) {
    if (!TABLE_JOBS.includes(request.job))
      throw new UsageError(`--table applies to ${TABLE_JOBS.join(', ')}, not ${job}`);
    for (const t of tables) {
      try {
        tableKey(t);
      } catch (err) {
        throw new UsageError(`--table: ${(err as Error).message}`);
      }
    }
    request.tables = tables;
  }
  const olderThan = durationOption(values, 'older-than');
  if (olderThan !== undefined) {
    if (job !== 'orphans' && job !== 'expire')
      throw new UsageError(`--older-than applies to orphans and expire, not ${job}`);
    request.olderThanMs = olderThan;
  }
  const options = listOption(values, 'option');
  if (options.length) {
    if (job !== 'compact') throw new UsageError(`--option applies to compact, not ${job}`);
    request.rewrite = {};
    for (const text of options) {
      const eq = text.indexOf('=');
      const key = text.slice(0, eq);
      if (eq <= 0 || !(BIN_PACK_OPTIONS as readonly string[]).includes(key))
        throw new UsageError(
          `--option expects KEY=VALUE with KEY one of ${BIN_PACK_OPTIONS.join(', ')}, got '${text}'`,
        );
      request.rewrite[key] = text.slice(eq + 1);
    }
  }
  if (values.sink !== undefined && job !== 'branches') throw new UsageError(`--sink applies to branches, not ${job}`);
  return request;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

function summary({ report, reportLocation, orphans, branches }: JobRun): string {
  const lines: string[] = [];
  const head = `${report.job}${report.dryRun ? ' (dry run)' : ''}: ${(report.durationMs / 1000).toFixed(1)} s`;
  if (report.tables) {
    const unit = report.job === 'manifests' ? 'manifests' : 'files';
    lines.push(
      `${head}, ${report.tables.length} table(s), ${report.filesBefore} → ${report.filesAfter} ${unit}, ${size(report.bytesBefore)} → ${size(report.bytesAfter)}`,
    );
    for (const t of report.tables) {
      lines.push(
        `  ${t.table.padEnd(40)} ${t.outcome.padEnd(9)} ${t.filesBefore} → ${t.filesAfter} ${unit}, ${size(t.bytesBefore)} → ${size(t.bytesAfter)}${t.reason ? ` (${t.reason})` : ''}`,
      );
    }
  }
  if (orphans) {
    lines.push(
      `${head}, ${orphans.references} reference(s), ${orphans.tables} table head(s); listed ${orphans.listed} objects (${size(orphans.listedBytes)}): ` +
        `${orphans.reachable} reachable, ${orphans.young} within the grace period, ${orphans.protected} protected, ${orphans.orphans.length} orphan(s) (${size(orphans.orphanBytes)})`,
    );
    if (report.dryRun)
      for (const o of orphans.orphans) lines.push(`  would delete ${size(o.size).padStart(10)}  ${o.location}`);
    else lines.push(`  deleted ${orphans.deleted} object(s), reclaimed ${size(orphans.deletedBytes)}`);
  }
  if (branches) {
    lines.push(
      `${head}, ${branches.branches} WAP branch(es): ${branches.deleted} deleted, ${branches.redriven} re-driven`,
    );
    for (const a of branches.actions) lines.push(`  ${a.action.padEnd(9)} ${a.branch}: ${a.reason}`);
  }
  for (const error of report.errors) lines.push(`error: ${error}`);
  if (reportLocation) lines.push(`report: ${reportLocation}`);
  return lines.join('\n');
}
