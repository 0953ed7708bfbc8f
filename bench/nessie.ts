/**
 * Embedded Nessie server throughput and latency: commits/s and merges/s with 1 and 8 concurrent HTTP clients.
 *
 *   node --import tsx bench/nessie.ts [--commits N] [--merges N] [--cpu-prof DIR] [--client-cpu-prof DIR]
 *   (or: npm run bench -- nessie)
 *
 * The server runs as its own process (`floe nessie`, fsync on every acknowledged batch) on a fresh data dir; clients
 * use the floe Nessie client. Commits update Iceberg-table contents with compare-and-swap on the head each client
 * last saw (clients touch different tables, so they do not conflict); merges publish prepared WAP branches (one
 * commit each, different tables) into main. Prints a markdown table.
 *
 * With one client every commit needs its own durable write, so the disk's fsync rate bounds it. Because that rate
 * varies a lot on a shared machine, each row is bracketed by a raw probe (append 200 bytes + fdatasync, in the data
 * directory) and reported as a ratio to it; the server's CPU time per operation (from /proc) is reported too, as it
 * does not depend on how busy the other cores are.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, fdatasyncSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { benchArgs } from './_args.ts';
import {
  createNessieClient,
  NO_ANCESTOR_HASH,
  type IcebergTable,
  type NessieClient,
} from '../shared/catalog/nessie/index.ts';
import { percentile } from './_measure.ts';

const USAGE = `Usage: npm run bench -- nessie [options]

  --commits N       commits per row (default 2000)
  --merges N        merges per row (default 400)
  --clients LIST    concurrent clients of each pair of rows, comma-separated (default 1,8)
  --fsync-probe N   appends + fdatasync of the raw disk probe before and after each row (default 400)
  --cpu-prof DIR    write a V8 CPU profile of the server process into DIR (node --cpu-prof)
  --client-cpu-prof DIR
                    write a V8 CPU profile of this (client) process per measured row into DIR, covering only the
                    row's operations (not the setup, the fsync probes or the other rows)
  -h, --help        this text`;
const values = benchArgs(USAGE, {
  commits: { type: 'string', default: '2000' },
  merges: { type: 'string', default: '400' },
  clients: { type: 'string', default: '1,8' },
  'fsync-probe': { type: 'string', default: '400' },
  'cpu-prof': { type: 'string' },
  'client-cpu-prof': { type: 'string' },
});
const COMMITS = Number(values.commits);
const MERGES = Number(values.merges);
const CLIENTS = values.clients.split(',').map(Number);
if (!CLIENTS.every((n) => Number.isInteger(n) && n > 0)) {
  console.error(`--clients takes positive integers, got '${values.clients}'`);
  process.exit(2);
}
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
  /** Server process CPU (user + system) per operation, ms. */
  serverCpuMs: number;
  /** This (client) process's CPU per operation, ms. */
  clientCpuMs: number;
  /** Raw appends + fdatasync per second, mean of the probes just before and just after the row. */
  fsyncPerSecond: number;
}

/** Raw fsync rate of the disk under `dir`: `n` appends of 200 bytes, each followed by fdatasync. */
function fsyncRate(dir: string, n: number): number {
  const file = path.join(dir, 'fsync-probe');
  const fd = openSync(file, 'w');
  const record = Buffer.alloc(200, 0x2a);
  const start = performance.now();
  try {
    for (let i = 0; i < n; i++) {
      writeSync(fd, record, 0, record.length, i * record.length);
      fdatasyncSync(fd);
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  return n / ((performance.now() - start) / 1000);
}

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5) (utime, stime), counted after the parenthesised command name; clock ticks are 100/s on Linux.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * The floor any Node.js server with per-request durability sits on: node:http, one O_DSYNC write of the request body
 * per request (as the Nessie log does), a fixed JSON answer. Runs as its own process like `floe nessie`.
 */
const FLOOR_SERVER = `
import http from 'node:http';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
const log = await open(process.argv[1], constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_DSYNC);
let size = 0;
const answer = JSON.stringify({ targetBranch: { type: 'BRANCH', name: 'main', hash: 'f'.repeat(64) }, addedContents: [] });
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    const at = size;
    size += body.length;
    await log.write(body, 0, body.length, at);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(answer) });
    res.end(answer);
  });
});
server.keepAliveTimeout = 65000;
server.listen(0, '127.0.0.1', () => console.log('http://127.0.0.1:' + server.address().port + '/'));
`;

async function startFloorServer(file: string): Promise<{ url: string; process: ChildProcess }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', FLOOR_SERVER, file], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => line.startsWith('http://') && resolve(line.trim()));
    child.once('exit', (code) => reject(new Error(`floor server exited with ${code}`)));
  });
  return { url, process: child };
}

/** POSTs `body` to `url` and waits for the whole answer. */
function post(url: string, agent: http.Agent, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`floor server: ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Profiles this process through the inspector, so a profile covers one row only (`node --cpu-prof` would also take in
 * the module loading, the setup and the synchronous fsync probes, which dwarf the client's share).
 */
async function startClientProfile(): Promise<{ stop(name: string): Promise<void> } | undefined> {
  const dir = values['client-cpu-prof'];
  if (!dir) return undefined;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 250 });
  await session.post('Profiler.start');
  return {
    async stop(name) {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, `client-${name}.cpuprofile`), JSON.stringify(profile));
    },
  };
}

/** Runs `total` operations split over `clients` concurrent loops; each op's latency in ms. */
async function measure(
  what: string,
  clients: number,
  total: number,
  op: (client: number, i: number) => Promise<void>,
  probe: { dir: string; n: number; serverPid: number },
): Promise<Result> {
  const latencies: number[] = [];
  const perClient = Math.ceil(total / clients);
  const fsyncBefore = fsyncRate(probe.dir, probe.n);
  const profiler = await startClientProfile();
  const cpuBefore = cpuSeconds(probe.serverPid);
  const clientBefore = process.cpuUsage();
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
  const seconds = (performance.now() - start) / 1000;
  const cpu = cpuSeconds(probe.serverPid) - cpuBefore;
  const clientCpu = process.cpuUsage(clientBefore);
  await profiler?.stop(`${what.replace(/[^a-z0-9]+/gi, '-')}-${clients}`);
  const fsyncAfter = fsyncRate(probe.dir, probe.n);
  return {
    what,
    clients,
    ops: perClient * clients,
    seconds,
    latencies: latencies.sort((a, b) => a - b),
    serverCpuMs: (cpu * 1000) / (perClient * clients),
    clientCpuMs: (clientCpu.user + clientCpu.system) / 1000 / (perClient * clients),
    fsyncPerSecond: (fsyncBefore + fsyncAfter) / 2,
  };
}

async function main(): Promise<void> {
  const workDir = await mkdtemp(path.join(tmpdir(), 'floe-bench-nessie-'));
  const dataDir = path.join(workDir, 'data');
  const profile = values['cpu-prof']
    ? ['--cpu-prof', '--cpu-prof-interval', '250', '--cpu-prof-dir', path.resolve(values['cpu-prof'])]
    : [];
  const child = spawn(
    process.execPath,
    [...profile, path.join(root, 'cli/floe.js'), 'nessie', '--port', '0', '--data', dataDir],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FLOE_LOG_LEVEL: 'warn' } },
  );
  const probe = { dir: workDir, n: Number(values['fsync-probe']), serverPid: child.pid! };
  const uri = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => line.startsWith('http://') && resolve(line.trim()));
    child.once('exit', (code) => reject(new Error(`floe nessie exited with ${code}`)));
  });
  const client: NessieClient = createNessieClient({ uri });
  let floor: Awaited<ReturnType<typeof startFloorServer>> | undefined;
  // A commit request body of the size the bench sends.
  const floorBody = Buffer.from(
    JSON.stringify({
      commitMeta: { message: 'append 1234' },
      operations: [
        {
          type: 'PUT',
          key: { elements: ['bench', 'c1_0'] },
          content: { ...tableContent('s3://b/1234', 0n, randomUUID()), snapshotId: '6270371423468403467' },
        },
      ],
    }),
  );
  try {
    floor = await startFloorServer(path.join(workDir, 'floor.log'));
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

    for (const clients of CLIENTS) {
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
        await measure(
          'commit',
          clients,
          COMMITS,
          async (c, i) => {
            const s = state[c];
            const r = await client.commit('main', s.head, { message: `append ${i}` }, [
              {
                type: 'PUT',
                key: { elements: ['bench', `c${clients}_${c}`] },
                content: tableContent(`s3://b/${i}`, BigInt(i) + 6270371423468402233n, s.id),
              },
            ]);
            s.head = r.targetBranch.hash;
          },
          probe,
        ),
      );
      head = (await client.getReference('main')).hash;

      const floorAgent = new http.Agent({ keepAlive: true, maxSockets: clients });
      const { url: floorUrl, process: floorProcess } = floor;
      const floorProbe = { ...probe, serverPid: floorProcess.pid! };
      results.push(
        await measure(
          'floor: node:http + 1 O_DSYNC write',
          clients,
          COMMITS,
          () => post(floorUrl, floorAgent, floorBody),
          floorProbe,
        ),
      );
      floorAgent.destroy();

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
        await measure(
          'merge',
          clients,
          clients * perClient,
          async (c, i) => {
            const b = branches[c * perClient + i];
            const r = await client.merge('main', mainSeen[c], {
              fromRefName: b.name,
              fromHash: b.hash,
              commitMeta: { message: `publish ${b.name}` },
            });
            if (!r.wasSuccessful) throw new Error(`merge of ${b.name} conflicted`);
            mainSeen[c] = r.resultantTargetHash!;
          },
          probe,
        ),
      );
      head = (await client.getReference('main')).hash;
    }

    console.log(
      `\nEmbedded Nessie server (separate process, fsync per acknowledged batch), ${COMMITS} commits / ${MERGES} merges per row\n`,
    );
    console.log(
      '| operation | clients | ops | ops/s | p50 ms | p99 ms | server CPU ms/op | client CPU ms/op | raw fdatasync/s | ops/s ÷ fdatasync/s |',
    );
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of results) {
      const rate = r.ops / r.seconds;
      console.log(
        `| ${r.what} | ${r.clients} | ${r.ops} | ${rate.toFixed(0)} | ${percentile(r.latencies, 50).toFixed(2)} | ${percentile(r.latencies, 99).toFixed(2)} | ${r.serverCpuMs.toFixed(3)} | ${r.clientCpuMs.toFixed(3)} | ${r.fsyncPerSecond.toFixed(0)} | ${(rate / r.fsyncPerSecond).toFixed(2)} |`,
      );
    }
  } finally {
    floor?.process.kill('SIGTERM');
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await rm(workDir, { recursive: true, force: true });
  }
}

await main();
