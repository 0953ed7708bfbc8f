/** `floe branches` — the Write-Audit-Publish branches in flight (or kept), with their batch, stage and age. */
import { type Command } from '../command.ts';
import { parseBranchName, property, Property, WAP_PREFIX } from '../../shared/wap/branches.ts';
import { parseJson, stringifyJson } from '../../shared/util/json.ts';
import { cliCatalog } from '../tables.ts';

export interface BranchSummary {
  branch: string;
  table: string;
  batchId: string;
  /** written | audited | (none): the branch exists but the writer never committed (crashed). */
  stage: string;
  verdict?: string;
  rows?: number;
  ageSeconds: number | null;
  hash: string;
}

export async function wapBranches(now = Date.now()): Promise<BranchSummary[]> {
  const client = cliCatalog().client;
  const out: BranchSummary[] = [];
  for (const ref of await client.listReferences({ fetch: 'ALL' })) {
    if (ref.type !== 'BRANCH' || !ref.name.startsWith(WAP_PREFIX)) continue;
    const parsed = parseBranchName(ref.name);
    const meta = ref.metadata?.commitMetaOfHEAD;
    const stage = property(meta, Property.stage);
    const resultText = property(meta, Property.result);
    const result = resultText ? parseJson<Record<string, unknown>>(resultText) : undefined;
    const floeCommit = property(meta, Property.batchId) === parsed?.batchId;
    out.push({
      branch: ref.name,
      table: parsed?.table ?? '?',
      batchId: parsed?.batchId ?? '?',
      stage: floeCommit && stage ? stage : '(none)',
      ...(floeCommit && typeof result?.verdict === 'string' ? { verdict: result.verdict } : {}),
      ...(floeCommit && typeof result?.rows === 'number' ? { rows: result.rows } : floeCommit && typeof result?.trusted === 'number' ? { rows: (result.trusted as number) + (result.untrusted as number) } : {}),
      ageSeconds: meta?.commitTime ? Math.round((now - Date.parse(meta.commitTime)) / 1000) : null,
      hash: ref.hash,
    });
  }
  return out;
}

export const command: Command = {
  name: 'branches',
  summary: 'list Write-Audit-Publish branches: table, batch, stage (written, audited), verdict and age',
  description: 'A branch disappears when its batch is published; a rejected batch keeps its branch for inspection.',
  options: { json: { type: 'boolean', description: 'print one JSON document' } },
  async run({ values }) {
    const branches = await wapBranches();
    if (values.json) {
      console.log(stringifyJson({ branches }));
      return 0;
    }
    if (!branches.length) {
      console.log('no WAP branches (every batch is published)');
      return 0;
    }
    const rows = branches.map((b) => [b.branch, b.stage, b.verdict ?? '', b.rows === undefined ? '' : String(b.rows), b.ageSeconds === null ? '?' : `${b.ageSeconds}s`]);
    const header = ['branch', 'stage', 'verdict', 'rows', 'age'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    console.log([header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n'));
    return 0;
  },
};
