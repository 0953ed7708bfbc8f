/**
 * The claim-check write, the tagger's cost per image: `storeBlob` (hash, create-if-absent write) against a bare PUT of
 * the same bytes (the raw limit of the step) and against probing first (HEAD, then PUT: what the tagger did before),
 * on the local store and on a real S3 server. Client CPU and wall time per blob, 8 blobs in flight, rounds alternating.
 *
 *   npm run bench -- claimcheck [--blobs N] [--rounds N] [--no-s3]
 *
 * The S3 server is moto from the engine cache (`npm run engines -- fetch` brings it; the first run fetches it), or the
 * one `S3_ENDPOINT` and `S3_TEST_BUCKET` name (with `AWS_*` credentials), as for `npm run test:engines`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { storeBlob, type TaggingContext } from '../functions/tagger/tagging.ts';
import { ACCESS_KEY_ID, BUCKET, REGION, SECRET_ACCESS_KEY, type RunningEngine } from '../engines/engine.ts';
import { startS3 } from '../engines/s3.ts';
import { parsePipelineConfig } from '../shared/runtime/pipeline-config.ts';
import { createFileIO, type FileIO } from '../shared/storage/index.ts';
import { benchArgs, integerOption } from './_args.ts';
import { median } from './_measure.ts';

const usage = `Usage: npm run bench -- claimcheck [options]

The tagger's claim-check write per blob (client CPU and wall time) on the local store and on a real S3 server:
storeBlob, a bare PUT of the same bytes, and a HEAD before the PUT.

Options:
  --blobs N   blobs per variant and round (default 400; each ~4 KB, like the simulator's camera frames)
  --rounds N  rounds, variants alternating within each (default 3; medians are reported)
  --no-s3     the local store only
  -h, --help  this text`;

const values = benchArgs(usage, {
  blobs: { type: 'string', default: '400' },
  rounds: { type: 'string', default: '3' },
  'no-s3': { type: 'boolean', default: false },
});
const blobs = integerOption(usage, 'blobs', values.blobs, 8);
const rounds = integerOption(usage, 'rounds', values.rounds);
const progress = (message: string) => process.stderr.write(`claimcheck bench: ${message}\n`);

interface Target {
  name: string;
  io: FileIO;
  warehouse: string;
}

type Variant = (target: Target, table: string, bytes: Uint8Array, n: number) => Promise<void>;

const config = parsePipelineConfig({ topics: {} });
const variants: Record<string, Variant> = {
  storeBlob: async (target, table, bytes) => {
    const ctx: TaggingContext = { config, io: target.io, warehouse: target.warehouse };
    await storeBlob(ctx, table, bytes, 'image/png');
  },
  'bare PUT': async (target, table, bytes, n) => {
    await target.io.write(`${target.warehouse}${table}/${n % 256}/${n}`, bytes, { contentType: 'image/png' });
  },
  'HEAD, then PUT': async (target, table, bytes, n) => {
    const uri = `${target.warehouse}${table}/${n % 256}/${n}`;
    if (!(await target.io.head(uri))) await target.io.write(uri, bytes, { contentType: 'image/png' });
  },
};

/** Client CPU and wall µs per blob of one variant writing `blobs` fresh blobs, 8 in flight. */
async function measure(target: Target, variant: Variant, table: string): Promise<{ cpu: number; wall: number }> {
  const frames = Array.from({ length: blobs }, () => randomBytes(4096));
  const started = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < frames.length; i += 8)
    await Promise.all(frames.slice(i, i + 8).map((bytes, j) => variant(target, table, bytes, i + j)));
  const used = process.cpuUsage(cpu);
  return { cpu: (used.user + used.system) / blobs, wall: ((performance.now() - started) * 1000) / blobs };
}

const home = await mkdtemp(path.join(tmpdir(), 'floe-bench-claimcheck-'));
let s3: RunningEngine | undefined;
try {
  const targets: Target[] = [
    { name: 'local store', io: createFileIO({ localFiles: true }), warehouse: `file://${home}/warehouse/` },
  ];
  if (!values['no-s3']) {
    const env = process.env;
    let endpoint = env.S3_ENDPOINT;
    let bucket = env.S3_TEST_BUCKET;
    if (!endpoint || !bucket) {
      progress('starting moto (the S3 server of npm run test:engines)');
      s3 = await startS3({ home, env, progress, timeoutMs: 120_000 });
      endpoint = s3.env.S3_ENDPOINT;
      bucket = BUCKET;
    }
    const io = createFileIO({
      s3: {
        endpoint,
        region: env.S3_REGION ?? REGION,
        forcePathStyle: true,
        accessKeyId: env.AWS_ACCESS_KEY_ID ?? ACCESS_KEY_ID,
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? SECRET_ACCESS_KEY,
      },
    });
    targets.push({ name: `S3 (${s3 ? 'moto' : endpoint})`, io, warehouse: `s3://${bucket}/floe-bench-${Date.now()}/` });
  }

  const results = new Map<string, { cpu: number[]; wall: number[] }>();
  for (let round = 0; round < rounds; round++) {
    for (const target of targets) {
      for (const [name, variant] of Object.entries(variants)) {
        progress(`round ${round + 1}/${rounds}: ${target.name}, ${name}`);
        // A table per run: every blob is new, as a camera frame is.
        const { cpu, wall } = await measure(target, variant, `t${round}-${name.replace(/\W+/g, '-')}`);
        const key = `${target.name}\u0000${name}`;
        const entry = results.get(key) ?? { cpu: [], wall: [] };
        entry.cpu.push(cpu);
        entry.wall.push(wall);
        results.set(key, entry);
      }
    }
  }

  console.log(`\nClaim-check writes of new ~4 KB blobs, ${blobs} per run, 8 in flight, medians of ${rounds} rounds\n`);
  console.log('| store | write | client CPU µs / blob | wall µs / blob | CPU / bare PUT |');
  console.log('|---|---|---|---|---|');
  for (const target of targets) {
    const bare = median(results.get(`${target.name}\u0000bare PUT`)!.cpu);
    for (const name of Object.keys(variants)) {
      const { cpu, wall } = results.get(`${target.name}\u0000${name}`)!;
      console.log(
        `| ${target.name} | ${name} | ${median(cpu).toFixed(0)} | ${median(wall).toFixed(0)} | ${(median(cpu) / bare).toFixed(2)} |`,
      );
    }
  }
} finally {
  await s3?.stop();
  await rm(home, { recursive: true, force: true });
}
