/**
 * Runs after vitest's own reporter. Lists every skipped or todo test with its file and reason, so a suite that quietly
 * stopped running shows up; with `CI` set a skipped test fails the run (what CI does not run is not tested). Ends with
 * a plain `tests: N passed, N failed, N skipped` line that tools reading test logs understand.
 *
 * A reason is the note of `context.skip(note)` or, for a suite skipped as a whole by describeIfAvailable
 * (test/helpers/requires.ts), the reason it put into the suite's name.
 */
import type { Reporter, TestModule, Vitest } from 'vitest/node';
import { inCI, skipReasonIn } from '../helpers/ci.ts';

interface Skipped {
  file: string;
  name: string;
  reason: string;
}

/** `file — reason` followed by the tests it skipped, so a suite skipped for one reason reads as one entry. */
function grouped(skipped: Skipped[]): string[] {
  const groups = new Map<string, string[]>();
  for (const { file, name, reason } of skipped) {
    const heading = `${file} — ${reason}`;
    groups.set(heading, [...(groups.get(heading) ?? []), name]);
  }
  return [...groups].flatMap(([heading, names]) => [`  ${heading}`, ...names.map((name) => `      ${name}`)]);
}

export default class SkippedTestsReporter implements Reporter {
  private vitest: Vitest | undefined;

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    _errors: ReadonlyArray<unknown>,
    reason: 'passed' | 'failed' | 'interrupted',
  ): void {
    if (reason === 'interrupted') return;
    const log = (line = '') => (this.vitest ? this.vitest.logger.log(line) : console.log(line));
    // `-t pattern` marks every other test skipped; those were filtered out on purpose, not skipped.
    const filtered = Boolean(this.vitest?.config.testNamePattern);
    let passed = 0;
    let failed = 0;
    const skipped: Skipped[] = [];
    for (const module of testModules) {
      let failedInModule = 0;
      for (const test of module.children.allTests()) {
        const result = test.result();
        if (result.state === 'passed') passed++;
        else if (result.state === 'failed') failedInModule++;
        else if (result.state === 'skipped' && !filtered) {
          const marked = skipReasonIn(test.fullName);
          const reason =
            result.note ??
            marked?.reason ??
            (test.options.mode === 'todo'
              ? 'todo'
              : 'no reason given (give one: context.skip(reason) or describeIfAvailable)');
          skipped.push({ file: module.relativeModuleId, name: marked?.name ?? test.fullName, reason });
        }
      }
      // A file that failed to load (or whose hooks failed) has no failed test of its own but still failed.
      failed += failedInModule || (module.state() === 'failed' ? 1 : 0);
    }

    if (skipped.length) {
      log();
      log(`Skipped tests (${skipped.length}):`);
      for (const line of grouped(skipped)) log(line);
      if (inCI()) {
        log(
          `CI is set: ${skipped.length} skipped test(s) fail the run; install what they need (.ci/run) or move them out of the default suite.`,
        );
        process.exitCode = 1;
      }
    }
    log();
    log(`tests: ${passed} passed, ${failed} failed, ${filtered ? 0 : skipped.length} skipped`);
  }
}
