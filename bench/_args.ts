/**
 * A benchmark's command line: `-h`/`--help` prints its usage and exits 0; an unknown option or a stray argument prints
 * what is wrong and the usage and exits 2, before anything is started.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

export function benchArgs<const O extends Options>(usage: string, options: O) {
  const config = {
    options: { ...options, help: { type: 'boolean', short: 'h' } } as O & { help: { type: 'boolean'; short: 'h' } },
    strict: true,
    allowPositionals: false,
  } as const;
  let values;
  try {
    ({ values } = parseArgs(config));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${usage}\n`);
    process.exit(2);
  }
  if ((values as { help?: boolean }).help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return values;
}

/** The option's text as an integer of at least `min`, or usage and exit 2. */
export function integerOption(usage: string, name: string, text: string, min = 1): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < min) {
    process.stderr.write(`--${name} expects an integer ≥ ${min}, got '${text}'\n\n${usage}\n`);
    process.exit(2);
  }
  return n;
}
