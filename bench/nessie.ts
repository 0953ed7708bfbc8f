/**
 * Embedded Nessie server throughput and latency: commits/s and merges/s with 1 and 8 concurrent HTTP clients.
 *
 *   node --import tsx bench/nessie.ts [--commits N] [--merges N]     (or: npm run bench -- nessie)
 *
 * The server runs as its own process (`floe nessie`, fsync on every acknowledged batch) on a fresh data dir; clients
 * use the floe Nessie client. Commits update Iceberg-table contents with compare-and-swap on the head each client
 * last saw (clients touch different tables, so they do not conflict); merges publish prepared WAP branches (one
 * commit each, different tables) into main. Prints a markdown table.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  createNessieClient,
  NO_ANCESTOR_HASH,
  type IcebergTable,
  type NessieClient,
} from '../shared/catalog/nessie/index.ts';
import { percentile } from './_measure.ts';

const { values } = parseArgs({
  options: {
    commits: { type: 'string', default: '2000' },
    merges: { type: 'string', default: '400' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('Usage: node --import tsx bench/nessie.ts [--commits N] [--merges N]');
  process.exit(0);
}
const COMMITS = Number(values.commits);
const MERGES = Number(values.merges);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function tableContent(location: string, snapshotId: bigint, id?: string): IcebergTable {
  return {
    type: 'ICEBERG_TABLE',
    ...(id ? { id } : {}),
    metadataLocation: location,
    snapshotId,
    schemaId: 0,
    specId: 0,
    sortOrderId: 0,
  };
}

interface Result {
  what: string;
  clients: number;
  ops: number;
  seconds: number;
  latencies: number[];
}

/** Runs `total` operations split over `clients` concurrent loops; each op's latency in ms. */
async function measure(
  what: string,
  clients: number,
  total: number,
  op: (client: number, i: number) => Promise<void>,
): Promise<Result> {
  const latencies: number[] = [];
  const perClient = Math.ceil(total / clients);
  const start = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; i < perClient; i++) {
        const t0 = performance.now();
        await op(c, i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return {
    what,
    clients,
    ops: perClient * clients,
    seconds: (performance.now() - start) / 1000,
    latencies: latencies.sort((a, b) => a - b),
  };
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'floe-bench-nessie-'));
  const child = spawn(process.execPath, [path.join(root, 'cli/floe.js'), 'nessie', '--port', '0', '--data', dataDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, FLOE_LOG_LEVEL: 'warn' },
  });
  const uri = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => line.startsWith('http://') && resolve(line.trim()));
    child.once('exit', (code) => reject(new Error(`floe nessie exited with ${code}`)));
  });
  const client: NessieClient = createNessieClient({ uri });
  try {
    let head = (
      await client.commit('main', NO_ANCESTOR_HASH, { message: 'setup' }, [
        {
          type: 'PUT',
          key: { elements: ['bench'] },
          content: { type: 'NAMESPACE', elements: ['bench'], properties: {} },
        },
      ])
    ).targetBranch.hash;
    // Warm-up (JIT, connection pool), not measured.
    const warm = await client.commit('main', head, { message: 'warm' }, [
      { type: 'PUT', key: { elements: ['bench', 'warm'] }, content: tableContent('s3://w', 0n) },
    ]);
    let warmHead = warm.targetBranch.hash;
    for (let i = 0; i < 300; i++) {
      warmHead = (
        await client.commit('main', warmHead, { message: 'warm' }, [
          {
            type: 'PUT',
            key: { elements: ['bench', 'warm'] },
            content: tableContent(`s3://w/${i}`, BigInt(i), warm.addedContents[0].contentId),
          },
        ])
      ).targetBranch.hash;
    }
    head = warmHead;
    const results: Result[] = [];

    for (const clients of [1, 8]) {
      // One table per client, updated over and over with CAS against the head this client last saw.
      const state = await Promise.all(
        Array.from({ length: clients }, async (_, c) => {
          const r = await client.commit('main', head, { message: 'create' }, [
            { type: 'PUT', key: { elements: ['bench', `c${clients}_${c}`] }, content: tableContent('s3://b/0', 0n) },
          ]);
          return { id: r.addedContents[0].contentId, head: r.targetBranch.hash };
        }),
      );
      results.push(
        await measure('commit', clients, COMMITS, async (c, i) => {
          const s = state[c];
          const r = await client.commit('main', s.head, { message: `append ${i}` }, [
            {
              type: 'PUT',
              key: { elements: ['bench', `c${clients}_${c}`] },
              content: tableContent(`s3://b/${i}`, BigInt(i) + 6270371423468402233n, s.id),
            },
          ]);
          s.head = r.targetBranch.hash;
        }),
      );
      head = (await client.getReference('main')).hash;

      // Prepared WAP branches, one commit each on its own table; then merged into main.
      const perClient = Math.ceil(MERGES / clients);
      const branches = await Promise.all(
        Array.from({ length: clients * perClient }, async (_, n) => {
          const name = `wap/bench-${clients}-${n}`;
          const b = await client.createReference(name, 'BRANCH', { name: 'main', hash: head });
          const r = await client.commit(name, b.hash, { message: 'job' }, [
            { type: 'PUT', key: { elements: ['bench', `m${clients}_${n}`] }, content: tableContent('s3://m', 1n) },
          ]);
          return { name, hash: r.targetBranch.hash };
        }),
      );
      const mainSeen = Array.from({ length: clients }, () => head);
      results.push(
        await measure('merge', clients, clients * perClient, async (c, i) => {
          const b = branches[c * perClient + i];
          const r = await client.merge('main', mainSeen[c], {
            fromRefName: b.name,
            fromHash: b.hash,
            commitMeta: { message: `publish ${b.name}` },
          });
          if (!r.wasSuccessful) throw new Error(`merge of ${b.name} conflicted`);
          mainSeen[c] = r.resultantTargetHash!;
        }),
      );
      head = (await client.getReference('main')).hash;
    }

    console.log(
      `\nEmbedded Nessie server (separate process, fsync per acknowledged batch), ${COMMITS} commits / ${MERGES} merges per row\n`,
    );
    console.log('| operation | clients | ops | ops/s | p50 ms | p99 ms |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const r of results) {
      console.log(
        `| ${r.what} | ${r.clients} | ${r.ops} | ${(r.ops / r.seconds).toFixed(0)} | ${percentile(r.latencies, 50).toFixed(2)} | ${percentile(r.latencies, 99).toFixed(2)} |`,
      );
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
