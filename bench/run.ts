/**
 * `npm run bench [-- name ...]` runs the benchmarks in `bench/<name>.ts`, each in its own process so its peak RSS is
 * its own. With no names, all of them run in sequence.
 */
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && f !== 'chaos.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();
const argv = process.argv.slice(2);
// Names come first; what follows the first option goes to every benchmark named (`npm run bench -- cpu --rate 100`).
const firstOption = argv.findIndex((a) => a.startsWith('-'));
const args = firstOption < 0 ? argv : argv.slice(0, firstOption);
const passed = firstOption < 0 ? [] : argv.slice(firstOption);
if (!args.length && (passed.includes('--help') || passed.includes('-h'))) {
  console.log(
    `Usage: npm run bench [-- <name> ... [options for them]]\n\nBenchmarks: ${available.join(', ')}\n(\`npm run bench -- <name> --help\` for a benchmark's options, where it has any)`,
  );
  process.exit(0);
}
const unknown = args.filter((name) => !available.includes(name));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}\navailable: ${available.join(', ')}`);
  process.exit(2);
}
let failed = 0;
for (const name of args.length ? args : available) {
  console.log(`\n=== bench: ${name} ===`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, `${name}.ts`), ...passed], {
    stdio: 'inherit',
  });
  if (result.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
