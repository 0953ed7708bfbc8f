/**
 * Nothing lost when things really crash: a function process SIGKILLed from outside the stack comes back on its own
 * and the run's accounting ends exact; a dead letter (stored by the real deadletter function) is replayed by
 * `floe deadletter replay --all` onto main and its file removed; and a `floe start` killed with SIGKILL leaves no
 * function process behind holding its port.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { loadTables } from '../../shared/catalog/table-catalog.ts';
import { toHttpBinary } from '../../shared/events/cloudevent.ts';
import { scanRows } from '../../shared/iceberg/scan.ts';
import { listDeadLetters } from '../../shared/maintenance/deadletter-replay.ts';
import { createLogger } from '../../shared/runtime/logger.ts';
import { parseJson } from '../../shared/util/lossless-json.ts';
import { Column } from '../../shared/wap/staging-rows.ts';
import { recordToEvent } from '../../local/kafka-source/index.ts';
import { generateEvents } from '../../local/simulator/events.ts';
import { simulate } from '../../local/simulator/index.ts';
import { accountRun } from '../../local/stack/accounting.ts';
import { startStack, type RunningStack } from '../../local/stack/index.ts';
import { runFloe } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

const silent = createLogger({
  format: 'json',
  level: 'silent',
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});
const FLOE = path.resolve(fileURLToPath(new URL('../../cli/floe.js', import.meta.url)));
const tmp = await tempDir('floe-supervision');
let stack: RunningStack | undefined;
afterAll(async () => {
  await stack?.stop();
  await tmp.cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Alive and not a zombie waiting for a parent to reap it. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

describe('the local stack supervises its functions', () => {
  it('restarts a function SIGKILLed from outside, and the run still accounts for every record exactly once', async () => {
    stack = await startStack({
      home: path.join(tmp.dir, 'supervised'),
      logger: silent,
      configFile: 'knative/config/pipeline.yaml',
      dashboard: false,
    });
    const writer = stack.functions.writer;
    const running = simulate({
      brokers: stack.kafkaBrokers,
      rate: 40,
      durationMs: 12_000,
      seed: 21,
      badFraction: 0.05,
      logger: silent,
    });
    await sleep(3000);
    const pid = writer.pid()!;
    process.kill(pid, 'SIGKILL');
    await until('the writer to be restarted', () => writer.restarts() === 1 && writer.pid() !== pid, 30_000);
    await writer.ready();
    expect(alive(pid)).toBe(false);
    const report = await running;
    await stack.waitIdle({ timeoutMs: 150_000 });
    expect((await stack.status()).restarts).toMatchObject({ writer: 1, tagger: 0, publisher: 0 });
    const accounting = await accountRun(stack.catalog, stack.env.pipeline, report);
    for (const topic of accounting.topics) {
      expect(topic, topic.topic).toMatchObject({ missing: 0, duplicates: 0, deadLettered: 0 });
      expect(topic.trusted + topic.untrusted).toBe(topic.sent);
    }
    expect(accounting.ok).toBe(true);
  }, 240_000);

  it('floe deadletter replay --all brings stored dead letters onto main and removes their files', async () => {
    const running = stack!;
    // Record events as the parking-entry KafkaSource forwards them, for offsets no run produced, dead-lettered by the
    // real deadletter function as the Broker hands them over after its last retry.
    const records = generateEvents(99, 40, { badFraction: 0 })
      .filter((r) => r.role === 'entry')
      .slice(0, 3);
    expect(records.length).toBe(3);
    const offsets = records.map((_, i) => String(5_000_000 + i));
    for (const [i, record] of records.entries()) {
      const event = recordToEvent(
        {
          topic: 'parking-entry',
          partition: 0,
          offset: offsets[i],
          timestamp: String(Date.now()),
          key: Buffer.from(record.key),
          value: record.value,
          headers: record.headers,
        },
        { name: 'parking-entry', namespace: 'floe', extensions: { floekafkatopic: 'parking-entry' } },
      );
      event.attributes.knativeerrordest = running.functions.tagger.url;
      event.attributes.knativeerrorcode = '503';
      const { headers, body } = toHttpBinary(event);
      const response = await fetch(running.functions.deadletter.url, { method: 'POST', headers, body });
      expect(response.status).toBeLessThan(300);
    }
    expect((await listDeadLetters(running.catalog.io, running.warehouse)).letters).toHaveLength(3);

    const listed = await runFloe(['deadletter', 'list', '--json'], { env: { FLOE_WAREHOUSE: running.warehouse } });
    expect(listed.code, listed.stderr).toBe(0);
    expect(parseJson<{ records: number }[]>(listed.stdout).map((l) => l.records)).toEqual([1, 1, 1]);

    const replay = await runFloe(['deadletter', 'replay', '--all', '--broker', running.brokerUrl, '--json'], {
      env: { FLOE_WAREHOUSE: running.warehouse },
    });
    expect(replay.code, replay.stderr).toBe(0);
    expect(parseJson<{ replayed: string[] }>(replay.stdout).replayed).toHaveLength(3);
    expect((await listDeadLetters(running.catalog.io, running.warehouse)).letters).toHaveLength(0);

    await running.waitIdle({ timeoutMs: 120_000 });
    const { tables } = await loadTables(running.catalog, 'main', [
      'production.parking_entry',
      'production.parking_entry_untrusted',
    ]);
    const landed: string[] = [];
    for (const table of tables.values()) {
      for (const row of await scanRows(table.metadata, {
        io: running.catalog.io,
        columns: [Column.topic, Column.partition, Column.offset],
      })) {
        if (
          row[Column.topic] === 'parking-entry' &&
          Number(row[Column.partition]) === 0 &&
          BigInt(String(row[Column.offset])) >= 5_000_000n
        )
          landed.push(String(row[Column.offset]));
      }
    }
    expect(landed.sort()).toEqual(offsets);
  }, 180_000);

  it('usage errors exit 2', async () => {
    expect((await runFloe(['deadletter', 'replay'])).code).toBe(2);
    expect((await runFloe(['deadletter', 'undo'])).code).toBe(2);
    expect((await runFloe(['deadletter', 'list', '--bogus'])).code).toBe(2);
  });
});

describe('floe start killed with SIGKILL', () => {
  it('leaves no function process behind, and frees their ports', async () => {
    const home = path.join(tmp.dir, 'orphans');
    const child = spawn(
      process.execPath,
      [
        FLOE,
        'start',
        '--home',
        home,
        '--idle',
        '--kafka-port',
        '0',
        '--nessie-port',
        '0',
        '--broker-port',
        '0',
        '--dashboard-port',
        '0',
      ],
      {
        env: { ...process.env, FLOE_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await until('floe start to be up', () => /floe is up/.test(stderr) && /logs {7}/.test(stderr), 120_000);
      // Every function the stack reported, with its port (from the up banner) and its pid (from its log's start line).
      const ports = new Map<string, number>();
      for (const match of stderr.matchAll(/^ {2}(\S+) +http:\/\/127\.0\.0\.1:(\d+)$/gm))
        ports.set(match[1], Number(match[2]));
      const logs = readdirSync(path.join(home, 'logs')).filter((f) => f.endsWith('.log'));
      const pids = new Map<string, number>();
      for (const file of logs) {
        const starts = readFileSync(path.join(home, 'logs', file), 'utf8')
          .split('\n')
          .filter((l) => l.includes('"name":"floe-stack"'));
        if (starts.length)
          pids.set(file.replace(/\.log$/, ''), (JSON.parse(starts[starts.length - 1]) as { pid: number }).pid);
      }
      expect([...pids.keys()].sort()).toEqual(
        expect.arrayContaining(['auditor', 'deadletter', 'publisher', 'tagger', 'writer']),
      );
      for (const name of pids.keys()) expect(ports.get(name), name).toBeGreaterThan(0);
      for (const [name, pid] of pids) expect(alive(pid), name).toBe(true);

      child.kill('SIGKILL');
      await exited;
      for (const [name, pid] of pids) await until(`${name} (pid ${pid}) to exit`, () => !alive(pid), 15_000);
      for (const [name, pid] of pids) {
        const port = ports.get(name)!;
        expect(await until(`port ${port} of ${name} (pid ${pid}) to be free`, () => portFree(port), 5000)).toBe(true);
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 180_000);
});
