/**
 * Consumer-group rebalancing with kafkajs: a second member joins (the partitions are split), then that member dies
 * without leaving (SIGKILL of its process) and the session timeout hands its partitions back. Checked from the
 * records' side: none lost, and none delivered to two members of one generation.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait-for.ts';
import { Partitioners, startTestBroker, type TestBroker } from './helpers/broker.ts';
import { runMember, type MemberEvent } from './helpers/group-member.ts';

const TOPIC = 'rebalance';
const GROUP = 'rebalance-group';
const PARTITIONS = 4;

let t: TestBroker;
let child: ChildProcess | undefined;

beforeAll(async () => {
  t = await startTestBroker();
  await t.broker.createTopic(TOPIC, PARTITIONS);
});

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await t?.cleanup();
});

/** Generation → member ids, from the broker's "group generation formed" log lines. */
function generations(): { generation: number; members: string[] }[] {
  return t.logs
    .filter((l) => l.msg === 'group generation formed' && l.group === GROUP)
    .map((l) => ({ generation: l.generation as number, members: l.members as string[] }));
}

it('splits partitions when a member joins and takes them back when one dies; no record lost or doubled within a generation', async () => {
  const events: (MemberEvent & { generation: number })[] = [];
  // A member's deliveries belong to the generation its latest join belongs to: the newest generation naming it.
  const generationOf = (memberId: string) =>
    Math.max(
      ...generations()
        .filter((g) => g.members.includes(memberId))
        .map((g) => g.generation),
    );
  const record = (e: MemberEvent) => events.push({ ...e, generation: generationOf(e.memberId) });
  const joins = () =>
    events.filter((e): e is Extract<MemberEvent, { type: 'join' }> & { generation: number } => e.type === 'join');

  const producer = t.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const sent: string[] = [];
  const produce = async (phase: string, n: number) => {
    const messages = Array.from({ length: n }, (_, i) => ({ key: `${phase}-${i}`, value: `${phase}-${i}` }));
    await producer.send({ topic: TOPIC, acks: -1, messages });
    sent.push(...messages.map((m) => m.value));
  };
  const delivered = () => new Set(events.filter((e) => e.type === 'record').map((e) => (e as { value: string }).value));

  // Phase 1: one member owns every partition.
  const a = await runMember(t.broker.brokers, GROUP, TOPIC, 3000, record);
  await waitFor(() => joins().length === 1, 'first member to join');
  await produce('one', 60);
  await waitFor(() => sent.every((v) => delivered().has(v)), 'phase one records');

  // Phase 2: a second member (its own process) joins; both end up with partitions of one new generation.
  child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(new URL('./helpers/group-member.ts', import.meta.url)),
      t.broker.brokers,
      GROUP,
      TOPIC,
      '2000',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  readline.createInterface({ input: child.stdout! }).on('line', (line) => record(JSON.parse(line) as MemberEvent));
  const childId = () => joins().find((j) => j.memberId !== joins()[0].memberId)?.memberId;
  await waitFor(() => {
    const latest = generations().at(-1);
    return latest?.members.length === 2 && joins().filter((j) => j.generation === latest.generation).length === 2;
  }, 'both members in one generation');
  const shared = generations().at(-1)!.generation;
  await produce('two', 60);
  await waitFor(() => sent.every((v) => delivered().has(v)), 'phase two records');
  expect(events.some((e) => e.type === 'record' && e.memberId === childId() && e.value.startsWith('two'))).toBe(true);

  // Phase 3: the second member dies without a LeaveGroup; its session times out and the first takes over.
  child.kill('SIGKILL');
  await produce('three', 60);
  await waitFor(
    () => generations().some((g) => g.generation > shared && g.members.length === 1),
    'the dead member to be expired',
    20_000,
  );
  await waitFor(() => sent.every((v) => delivered().has(v)), 'phase three records', 20_000);
  await producer.disconnect();
  await a.disconnect();

  // Within each generation, assignments are disjoint and cover all partitions once both members synced.
  const byGeneration = new Map<number, number[][]>();
  for (const j of joins())
    byGeneration.set(j.generation, [...(byGeneration.get(j.generation) ?? []), j.assignment[TOPIC] ?? []]);
  for (const [generation, assignments] of byGeneration) {
    const all = assignments.flat();
    expect({ generation, distinct: new Set(all).size }).toEqual({ generation, distinct: all.length });
    if (generations().find((g) => g.generation === generation)?.members.length === assignments.length)
      expect(all.sort()).toEqual([0, 1, 2, 3]);
  }
  expect(byGeneration.get(shared)).toHaveLength(2);
  // No record lost; no record delivered to two different members of one generation.
  expect(sent.filter((v) => !delivered().has(v))).toEqual([]);
  const owner = new Map<string, string>();
  for (const e of events) {
    if (e.type !== 'record') continue;
    const key = `${e.generation}/${e.partition}/${e.offset}`;
    expect({ key, member: owner.get(key) ?? e.memberId }).toEqual({ key, member: e.memberId });
    owner.set(key, e.memberId);
  }
});
