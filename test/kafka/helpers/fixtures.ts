/** Kafka protocol byte fixtures in test/fixtures/kafka-protocol (kafkajs test vectors; see test/fixtures/README.md). */
import fs from 'node:fs';
import path from 'node:path';
import { KAFKA_PROTOCOL_FIXTURES } from '../../helpers/fixtures.ts';

export function fixture(...parts: string[]): Buffer {
  const json = JSON.parse(fs.readFileSync(path.join(KAFKA_PROTOCOL_FIXTURES, ...parts), 'utf8')) as {
    type: 'Buffer';
    data: number[];
  };
  return Buffer.from(json.data);
}

export interface FixtureFile {
  dir: string;
  file: string;
  version: number;
  kind: 'request' | 'response';
}

/** `v<N>_request*.json` / `v<N>_response*.json` files of one API folder. */
export function apiFixtures(dir: string): FixtureFile[] {
  const full = path.join(KAFKA_PROTOCOL_FIXTURES, dir);
  if (!fs.existsSync(full)) return [];
  return fs
    .readdirSync(full)
    .map((file) => ({ file, match: /^v(\d+)_(request|response)/.exec(file) }))
    .filter((x) => x.match)
    .map(({ file, match }) => ({ dir, file, version: Number(match![1]), kind: match![2] as 'request' | 'response' }));
}
