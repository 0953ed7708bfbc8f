/** Kafka protocol byte fixtures in ../shared/fixtures/kafka-protocol (kafkajs test vectors; see its README). */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/kafka-protocol', import.meta.url));

export function fixture(...parts: string[]): Buffer {
  const json = JSON.parse(fs.readFileSync(path.join(FIXTURES, ...parts), 'utf8')) as { type: 'Buffer'; data: number[] };
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
  const full = path.join(FIXTURES, dir);
  if (!fs.existsSync(full)) return [];
  return fs
    .readdirSync(full)
    .map((file) => ({ file, match: /^v(\d+)_(request|response)/.exec(file) }))
    .filter((x) => x.match)
    .map(({ file, match }) => ({ dir, file, version: Number(match![1]), kind: match![2] as 'request' | 'response' }));
}
