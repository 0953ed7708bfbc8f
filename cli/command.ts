/**
 * The shape of a `floe` subcommand and the argument parsing every command shares: `--help`, validation, usage on
 * error. Commands live in `cli/commands/<name>.ts` and export `command`.
 */
import { parseArgs } from 'node:util';
import { parseDuration } from '../shared/util/duration.ts';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  default?: string | boolean;
  /** Shown in help, e.g. `DIR`. */
  placeholder?: string;
  description: string;
}

export interface PositionalSpec {
  name: string;
  required?: boolean;
  description: string;
}

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface ParsedArgs {
  values: OptionValues;
  positionals: string[];
}

export interface Command {
  name: string;
  summary: string;
  description?: string;
  options?: Record<string, OptionSpec>;
  positionals?: PositionalSpec[];
  /** Extra lines shown under "Examples". */
  examples?: string[];
  /** Returns the process exit code (0 when omitted). */
  run(args: ParsedArgs): Promise<number | void>;
}

/** A bad argument: `main` prints the message and the command's usage, and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function usage(command: Command): string {
  const positionals = (command.positionals ?? []).map((p) => (p.required ? `<${p.name}>` : `[${p.name}]`)).join(' ');
  const lines = [
    `Usage: floe ${command.name}${command.options ? ' [options]' : ''}${positionals ? ` ${positionals}` : ''}`,
    '',
    command.summary,
  ];
  if (command.description) lines.push('', command.description);
  if (command.positionals?.length) {
    lines.push('', 'Arguments:');
    for (const p of command.positionals) lines.push(`  ${p.name.padEnd(24)} ${p.description}`);
  }
  const options = {
    ...(command.options ?? {}),
    help: { type: 'boolean', short: 'h', description: 'show this help' } as OptionSpec,
  };
  lines.push('', 'Options:');
  for (const [name, spec] of Object.entries(options)) {
    const flag = `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.type === 'string' ? ` ${spec.placeholder ?? 'VALUE'}` : ''}`;
    const extra = [
      spec.multiple ? 'repeatable' : '',
      spec.default !== undefined && spec.default !== false ? `default: ${spec.default}` : '',
    ]
      .filter(Boolean)
      .join('; ');
    lines.push(`  ${flag.padEnd(24)} ${spec.description}${extra ? ` (${extra})` : ''}`);
  }
  if (command.examples?.length) lines.push('', 'Examples:', ...command.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}

export function parseCommandArgs(command: Command, argv: string[]): ParsedArgs | 'help' {
  const options: Record<
    string,
    { type: 'string' | 'boolean'; short?: string; multiple?: boolean; default?: string | boolean }
  > = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, spec] of Object.entries(command.options ?? {})) {
    options[name] = {
      type: spec.type,
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.multiple ? { multiple: true } : {}),
      ...(spec.default !== undefined ? { default: spec.default } : {}),
    };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
  if (parsed.values.help) return 'help';
  const specs = command.positionals ?? [];
  const required = specs.filter((p) => p.required).length;
  if (parsed.positionals.length < required)
    throw new UsageError(`missing argument <${specs[parsed.positionals.length].name}>`);
  if (parsed.positionals.length > specs.length)
    throw new UsageError(`unexpected argument '${parsed.positionals[specs.length]}'`);
  return { values: parsed.values as OptionValues, positionals: parsed.positionals };
}

/** Typed option readers that turn bad values into usage errors naming the option. */
export function stringOption(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new UsageError(`--${name} expects a value`);
  return value;
}

export function intOption(
  values: OptionValues,
  name: string,
  bounds: { min?: number; max?: number } = {},
): number | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  if (!/^-?\d+$/.test(text)) throw new UsageError(`--${name} expects an integer, got '${text}'`);
  const value = Number(text);
  if (bounds.min !== undefined && value < bounds.min)
    throw new UsageError(`--${name} must be at least ${bounds.min}, got ${value}`);
  if (bounds.max !== undefined && value > bounds.max)
    throw new UsageError(`--${name} must be at most ${bounds.max}, got ${value}`);
  return value;
}

export function numberOption(
  values: OptionValues,
  name: string,
  bounds: { min?: number; max?: number } = {},
): number | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new UsageError(`--${name} expects a number, got '${text}'`);
  if (bounds.min !== undefined && value < bounds.min)
    throw new UsageError(`--${name} must be at least ${bounds.min}, got ${value}`);
  if (bounds.max !== undefined && value > bounds.max)
    throw new UsageError(`--${name} must be at most ${bounds.max}, got ${value}`);
  return value;
}

/** Durations like `30s`, `5m`, `1h`, `250ms`, or plain milliseconds. */
export function durationOption(values: OptionValues, name: string): number | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined) throw new UsageError(`--${name} expects a duration like 30s, 5m or 1h, got '${text}'`);
  return ms;
}

export function listOption(values: OptionValues, name: string): string[] {
  const value = values[name];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [String(value)];
}
