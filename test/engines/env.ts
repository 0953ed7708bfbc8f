/**
 * The environment of the engines suites: what the global setup (./global-setup.ts) started, over the variables set by
 * whoever ran the tests (those win: an engine named by them was not started).
 */
import { inject } from 'vitest';

export function engineEnv(): NodeJS.ProcessEnv {
  return { ...inject('engineEnv'), ...definedOnly(process.env) };
}

function definedOnly(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''),
  );
}
