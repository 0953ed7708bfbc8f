/** `floe branches` — the Write-Audit-Publish branches in flight (or kept), with their batch, stage and age. */
import { type Command } from '../command.ts';
import { branchesView } from '../../shared/lakehouse/branch-views.ts';
import { stringifyJson } from '../../shared/util/lossless-json.ts';
import { cliReadContext, openReadCatalog } from '../tables.ts';

export const command: Command = {
  name: 'branches',
  summary: 'list Write-Audit-Publish branches: table, batch, stage (writing, written, audited, rejected) and age',
  description: 'A branch disappears when its batch is published; a rejected batch keeps its branch for inspection.',
  options: { json: { type: 'boolean', description: 'print one JSON document' } },
  async run({ values }) {
    const opened = await openReadCatalog();
    let view;
    try {
      view = await branchesView(cliReadContext(opened));
    } finally {
      await opened.close();
    }
    if (values.json) {
      console.log(
        stringifyJson({ branches: view.branches, stages: view.stages, latency: view.latency, catalog: opened.source }),
      );
      return 0;
    }
    if (!view.branches.length) console.log('no WAP branches (every batch is published)');
    else {
      const rows = view.branches.map((b) => [
        b.branch,
        b.stage,
        b.verdict ?? '',
        b.rows === null ? '' : String(b.rows),
        b.ageMs === null ? '?' : `${Math.round(b.ageMs / 1000)}s`,
      ]);
      const header = ['branch', 'stage', 'verdict', 'rows', 'age'];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
      console.log(
        [header, ...rows]
          .map((r) =>
            r
              .map((c, i) => c.padEnd(widths[i]))
              .join('  ')
              .trimEnd(),
          )
          .join('\n'),
      );
    }
    const { stages, latency } = view;
    console.log(
      `\nstages: ${Object.entries(stages)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}` +
        (latency ? ` · publish latency p50 ${latency.p50} ms, p99 ${latency.p99} ms (${latency.count} batches)` : ''),
    );
    return 0;
  },
};
