/**
 * Suites that need something from outside npm: a program (kustomize, kcat, Chromium; `.ci/run` installs each) or an
 * external server (test/engines/). In CI a missing one is an install step that broke and fails the file with the
 * reason; elsewhere the suite is skipped and its name carries the reason, which the skipped-tests reporter
 * (test/reporters/skipped.ts) prints after the run.
 */
import { describe } from 'vitest';
import { inCI, skippedName } from './ci.ts';

/**
 * `describe` for a suite that needs something outside npm. `missing` is undefined when it is there, otherwise the
 * reason the suite cannot run, saying how to provide what is missing.
 */
export function describeIfAvailable(missing: string | undefined): (name: string, body: () => void) => void {
  if (missing === undefined) return (name, body) => describe(name, body);
  if (inCI()) throw new Error(`${missing} (CI is set, so a suite that cannot run fails instead of skipping)`);
  return (name, body) => describe.skip(skippedName(name, missing), body);
}
