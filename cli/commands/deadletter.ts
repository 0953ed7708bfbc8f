/**
 * `floe deadletter list|show|replay` — the events Knative could not deliver, as the deadletter function stored them
 * under `<warehouse>deadletter/`, and their way back: replay posts each to the Broker with its original attributes and
 * removes its file once the Broker accepted it (`shared/maintenance/deadletter-replay.ts`).
 */
import { listOption, stringOption, UsageError, type Command } from '../command.ts';
import {
  deadLetterRecords,
  listDeadLetters,
  replayDeadLetters,
  replayTarget,
  type StoredDeadLetter,
} from '../../shared/maintenance/deadletter-replay.ts';
import { warehouseIO } from '../../shared/runtime/env.ts';
import { createEmitter } from '../../shared/runtime/event-emitter.ts';
import { stringifyJson } from '../../shared/util/lossless-json.ts';
import { LOCAL_PORTS, localEnv } from '../local-env.ts';

const ACTIONS = ['list', 'show', 'replay'] as const;

function summary(letter: StoredDeadLetter) {
  return {
    id: letter.id,
    type: letter.type,
    source: letter.attributes.source,
    destination: letter.destination ?? null,
    code: letter.code ?? null,
    storedAt: letter.storedAt ?? null,
    records: deadLetterRecords(letter).length,
    location: letter.location,
  };
}

function details(letter: StoredDeadLetter) {
  const text = Buffer.from(letter.data).toString('utf8');
  // Data shown as text when it is (JSON events are); anything else stays base64, as stored.
  const printable =
    !text.includes('\uFFFD') && [...text].every((c) => c >= ' ' || c === '\n' || c === '\r' || c === '\t');
  return {
    ...summary(letter),
    attributes: letter.attributes,
    ...(printable ? { data: text } : { data_base64: Buffer.from(letter.data).toString('base64') }),
  };
}

function table(letters: StoredDeadLetter[]): string {
  const header = ['stored at', 'id', 'type', 'destination', 'code', 'records'];
  const rows = letters.map((l) => [
    l.storedAt ?? '',
    l.id,
    l.type,
    l.destination ?? '',
    l.code ?? '',
    String(deadLetterRecords(l).length),
  ]);
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

export const command: Command = {
  name: 'deadletter',
  summary: 'list, show and replay the events the Broker dead-lettered (stored under <warehouse>deadletter/)',
  description: [
    'replay posts each stored event to the Broker with its original attributes (without the knativeerror* ones) and',
    "removes its file once the Broker answered 2xx; an event the Broker refuses stays stored. (A KafkaSource's events",
    'bypass the Broker: they go back to the sink they failed at.) The consumers are',
    'idempotent, so replaying an event that was in fact handled changes nothing. The warehouse is FLOE_WAREHOUSE, or',
    "the local stack's under FLOE_HOME. The janitor replays on its own on its redrive tick once the destination is up.",
  ].join('\n'),
  positionals: [
    { name: 'action', required: true, description: ACTIONS.join(' | ') },
    { name: 'id', description: 'show / replay: the event id (same as --id)' },
  ],
  options: {
    id: { type: 'string', multiple: true, placeholder: 'ID', description: 'the event id to show or replay' },
    all: { type: 'boolean', description: 'replay: every stored dead letter' },
    broker: {
      type: 'string',
      placeholder: 'URL',
      default: `http://127.0.0.1:${LOCAL_PORTS.broker}`,
      description: 'replay: the Broker ingress to post to',
    },
    home: {
      type: 'string',
      placeholder: 'DIR',
      description: "the local stack's data directory (default $FLOE_HOME or ./.floe)",
    },
    json: { type: 'boolean', description: 'print JSON' },
  },
  examples: [
    'floe deadletter list',
    'floe deadletter show <id>',
    'floe deadletter replay --all',
    'floe deadletter replay --id <id> --broker http://127.0.0.1:8080',
  ],
  async run({ values, positionals }) {
    const action = positionals[0] as (typeof ACTIONS)[number];
    if (!(ACTIONS as readonly string[]).includes(action))
      throw new UsageError(`unknown action '${action}': expected ${ACTIONS.join(', ')}`);
    const ids = [...listOption(values, 'id'), ...(positionals[1] !== undefined ? [positionals[1]] : [])];
    if (action === 'list' && ids.length) throw new UsageError('list takes no id');
    if (action === 'show' && ids.length === 0) throw new UsageError('show needs an event id');
    if (action === 'replay' && !values.all && ids.length === 0) throw new UsageError('replay needs --all or --id ID');
    if (action === 'replay' && values.all && ids.length) throw new UsageError('--all and an id exclude each other');
    if (values.all && action !== 'replay') throw new UsageError('--all is for replay');
    const brokerUrl = stringOption(values, 'broker')!;
    if (action === 'replay' && !/^https?:\/\//.test(brokerUrl))
      throw new UsageError(`--broker expects an http(s) URL, got '${brokerUrl}'`);
    const home = stringOption(values, 'home');

    const env = localEnv(home === undefined ? process.env : { ...process.env, FLOE_HOME: home });
    const io = warehouseIO(env);
    const { letters, unreadable } = await listDeadLetters(io, env.warehouse);
    for (const { location, message } of unreadable) console.error(`skipping ${location}: ${message}`);

    if (action === 'list') {
      if (values.json) console.log(stringifyJson(letters.map(summary)));
      else console.log(letters.length ? table(letters) : `no dead letters under ${env.warehouse}deadletter/`);
      return 0;
    }
    const unknown = ids.filter((id) => !letters.some((l) => l.id === id));
    if (action === 'show') {
      const shown = letters.filter((l) => ids.includes(l.id));
      if (values.json) console.log(stringifyJson(shown.map(details)));
      else for (const letter of shown) console.log(stringifyJson(details(letter), 2));
      for (const id of unknown) console.error(`no dead letter with id '${id}'`);
      return unknown.length ? 1 : 0;
    }

    const result = await replayDeadLetters(
      io,
      letters,
      createEmitter(brokerUrl, { retries: 3 }),
      values.all ? {} : { ids },
    );
    if (values.json) {
      console.log(
        stringifyJson({
          replayed: result.replayed.map((l) => l.id),
          failed: result.failed.map((f) => ({ id: f.letter.id, error: f.message })),
          unknown,
        }),
      );
    } else {
      for (const letter of result.replayed)
        console.log(`replayed ${letter.id} (${letter.type}) to ${replayTarget(letter, brokerUrl)}`);
      for (const { letter, message } of result.failed)
        console.error(`failed ${letter.id}: ${message} (still stored at ${letter.location})`);
      for (const id of unknown) console.error(`no dead letter with id '${id}'`);
      console.log(`${result.replayed.length} replayed, ${result.failed.length} failed`);
    }
    return result.failed.length || unknown.length ? 1 : 0;
  },
};
