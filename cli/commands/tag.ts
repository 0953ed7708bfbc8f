/** `floe tag create|list|show|delete` — dataset tags: one consistent, reproducible version of every table. */
import { durationOption, stringOption, UsageError, type Command } from '../command.ts';
import { openCommandCatalog, type CommandCatalog } from '../catalog.ts';
import { createTag, deleteTag, TagError } from '../../shared/catalog/dataset-tags.ts';
import { listTagsView, tagDetailView, type TagDetail, type TagSummary } from '../../shared/lakehouse/tag-views.ts';
import { ApiError } from '../../shared/lakehouse/read-errors.ts';
import { stringifyJson } from '../../shared/util/lossless-json.ts';
import { cliReadContext } from '../tables.ts';

const ACTIONS = ['create', 'list', 'show', 'delete'] as const;
type Action = (typeof ACTIONS)[number];

/** Which options each action takes: anything else is a usage error rather than silently ignored. */
const ACTION_OPTIONS: Record<Action, string[]> = {
  create: ['ref', 'message', 'retention', 'json'],
  list: ['json'],
  show: ['json'],
  delete: ['json'],
};

export const command: Command = {
  name: 'tag',
  summary: 'dataset tags: create, list, show or delete a named, reproducible version of every table',
  description: [
    'Actions:',
    '  create NAME   tag the current state of --ref (default main): each production table gets an Iceberg tag NAME in its',
    "                metadata (Spark VERSION AS OF 'NAME', Trino, any engine reading the table), committed on --ref, and",
    '                the Nessie tag NAME then points at that commit — every table at once',
    '  list          every tag with its time and rows per production table',
    '  show NAME     per table: snapshot id, rows, the batches and the Kafka offset ranges per topic it holds',
    '  delete NAME   remove the Iceberg tags from the tables on main and delete the Nessie tag',
    'A tag keeps its rows through compaction, snapshot expiry and orphan cleanup; read them with',
    '`floe scan TABLE --ref NAME` or `floe tables --ref NAME`. Bad input (a name Nessie rejects, an existing tag,',
    'a missing tag or branch) exits 2 and changes nothing. Connects with NESSIE_URI (default the local stack).',
  ].join('\n'),
  positionals: [
    { name: 'action', required: true, description: ACTIONS.join(' | ') },
    { name: 'name', description: 'the tag (create, show, delete)' },
  ],
  options: {
    ref: { type: 'string', placeholder: 'BRANCH', description: 'create: the branch to tag (default main)' },
    message: { type: 'string', placeholder: 'TEXT', description: 'create: a note kept with the tag' },
    retention: {
      type: 'string',
      placeholder: 'AGE',
      description: "create: the Iceberg refs' max-ref-age (e.g. 30d; default: never expire)",
    },
    json: { type: 'boolean', description: 'print one JSON document' },
  },
  examples: [
    "floe tag create training-2026-12 --message 'churn model v3'",
    'floe tag list',
    'floe tag show training-2026-12 --json',
    'floe scan production.parking_entry --ref training-2026-12',
    'floe tag delete training-2026-12',
  ],
  async run({ values, positionals }) {
    const action = positionals[0] as Action;
    if (!(ACTIONS as readonly string[]).includes(action))
      throw new UsageError(`unknown action '${action}' (expected ${ACTIONS.join(', ')})`);
    for (const [option, value] of Object.entries(values)) {
      if (value !== undefined && value !== false && option !== 'help' && !ACTION_OPTIONS[action].includes(option)) {
        throw new UsageError(`--${option} does not apply to tag ${action}`);
      }
    }
    const name = positionals[1];
    if (action === 'list' && name !== undefined) throw new UsageError(`tag list takes no name (got '${name}')`);
    if (action !== 'list' && name === undefined) throw new UsageError(`tag ${action} needs the tag's name`);
    const retentionMs = durationOption(values, 'retention');
    if (retentionMs !== undefined && retentionMs <= 0) throw new UsageError('--retention must be positive');
    const json = values.json === true;

    const opened: CommandCatalog = await openCommandCatalog({
      access: action === 'create' || action === 'delete' ? 'write' : 'read',
    });
    try {
      switch (action) {
        case 'create': {
          const created = await createTag(opened.catalog, {
            name: name!,
            from: stringOption(values, 'ref') ?? 'main',
            namespace: opened.env.pipeline.namespaces.production,
            ...(stringOption(values, 'message') ? { message: stringOption(values, 'message') } : {}),
            ...(retentionMs !== undefined ? { retentionMs } : {}),
          });
          if (json) console.log(stringifyJson(created));
          else {
            console.log(`created tag ${created.name} at ${created.hash} (of ${created.from})`);
            for (const t of created.tables) console.log(`  ${t.table}  snapshot ${t.snapshotId}`);
            if (!created.tables.length)
              console.log('  (no production table has a snapshot yet: the tag holds no rows)');
          }
          return 0;
        }
        case 'delete': {
          const deleted = await deleteTag(opened.catalog, name!, {
            namespace: opened.env.pipeline.namespaces.production,
          });
          console.log(
            json
              ? stringifyJson(deleted)
              : `deleted tag ${deleted.name} (was at ${deleted.hash}; Iceberg refs removed on ${deleted.refsRemovedOn.join(', ') || 'no branch'})`,
          );
          return 0;
        }
        case 'list': {
          const { tags } = await listTagsView(cliReadContext(opened));
          console.log(json ? stringifyJson({ tags }) : listText(tags));
          return 0;
        }
        case 'show': {
          const detail = await tagDetailView(cliReadContext(opened), name!);
          console.log(json ? stringifyJson(detail) : showText(detail));
          return 0;
        }
      }
    } catch (err) {
      if (err instanceof TagError || (err instanceof ApiError && err.status === 404)) {
        console.error(`floe tag ${action}: ${err.message}`);
        return 2;
      }
      throw err;
    } finally {
      await opened.close();
    }
  },
};

function rowsText(tables: TagSummary['tables']): string {
  return tables.map((t) => `${t.table}=${t.rows ?? '?'}`).join(', ') || 'no tables';
}

function listText(tags: TagSummary[]): string {
  if (!tags.length) return 'no tags';
  const rows = tags.map((t) => [t.name, t.createdAt ?? '?', t.hash.slice(0, 12), rowsText(t.tables)]);
  const header = ['tag', 'created', 'hash', 'rows'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function showText(tag: TagDetail): string {
  const lines = [
    `tag ${tag.name} at ${tag.hash}`,
    `created ${tag.createdAt ?? '?'}${tag.branch ? ` of ${tag.branch}` : ''}${tag.retentionMs !== null ? `, retention ${Math.round(tag.retentionMs / 3_600_000)}h` : ''}`,
  ];
  if (tag.message) lines.push(`message ${tag.message}`);
  if (!tag.tables.length) lines.push('', 'no production tables');
  for (const t of tag.tables) {
    lines.push(
      '',
      `${t.table}: snapshot ${t.snapshotId ?? 'none'}, ${t.rows ?? '?'} rows${t.icebergRef ? ', Iceberg tag in the table metadata' : ''}`,
    );
    lines.push(
      `  batches (${t.batches.length}${t.batchesComplete ? '' : ', older ones expired from the history'}): ${t.batches.join(', ') || 'none'}`,
    );
    for (const [topic, partitions] of Object.entries(t.offsets)) {
      const ranges = Object.entries(partitions).map(
        ([p, list]) => `${p}:${list.map(([s, e]) => (s === e ? s : `${s}-${e}`)).join(',')}`,
      );
      lines.push(`  offsets ${topic}: ${ranges.join('  ') || 'none'}`);
    }
  }
  return lines.join('\n');
}
