/** URL forms of keys and references (the examples of Nessie's spec 2.0/2.2) and the CEL filter subset. */
import { describe, expect, it } from 'vitest';
import {
  encodeRef,
  keyFromPathString,
  keyToLegacyPathString,
  keyToPathString,
  parseRefPath,
  refPathElement,
} from '../../shared/catalog/nessie/paths.ts';
import { compileCel } from '../../local/nessie/cel.ts';

describe('Nessie URL paths', () => {
  it('encodes keys in the escaped form and decodes both forms', () => {
    expect(keyToPathString(['foo', 'bar', 'baz'])).toBe('foo.bar.baz');
    expect(keyToPathString(['foo', '.bar', 'baz'])).toBe('.foo.*.bar.baz');
    expect(keyToPathString(['foo.', '.bar', 'a/\\%aa'])).toBe('.foo*..*.bar.a*{*}*[aa');
    expect(keyFromPathString('.foo*..*.bar.a*{*}*[aa')).toEqual(['foo.', '.bar', 'a/\\%aa']);
    expect(keyFromPathString('test\u001dnested.Key')).toEqual(['test.nested', 'Key']);
    expect(keyToLegacyPathString(['test.nested', 'Key'])).toBe('test\u001dnested.Key');
    expect(() => keyFromPathString('.a*x')).toThrow(SyntaxError);
  });

  it('writes reference path elements with @ where Nessie needs it', () => {
    expect(refPathElement('main', '1122334455667788')).toBe('main@1122334455667788');
    expect(refPathElement('main', '~1')).toBe('main~1');
    expect(refPathElement('test/branch/name1')).toBe('test/branch/name1@');
    expect(refPathElement(undefined, 'abcdef12')).toBe('@abcdef12');
    expect(encodeURIComponent(refPathElement('etl/job-42', 'abcdef12'))).toBe('etl%2Fjob-42%40abcdef12');
    expect(encodeRef('wap/job-42')).toBe('wap%2Fjob-42%40');
    expect(encodeRef('wap/job-42~2')).toBe('wap%2Fjob-42%40~2');
    expect(encodeRef('main~2')).toBe('main~2');
  });

  it('parses reference path elements', () => {
    expect(parseRefPath('main')).toEqual({ name: 'main', hash: undefined, relative: [] });
    expect(parseRefPath('wap/x@ABCDEF12~2^1')).toEqual({
      name: 'wap/x',
      hash: 'abcdef12',
      relative: [
        { kind: '~', n: 2 },
        { kind: '^', n: 1 },
      ],
    });
    expect(parseRefPath('-')).toMatchObject({ name: '-' });
    expect(parseRefPath('main*2021-04-07T14:42:25.534Z')?.relative).toEqual([
      { kind: '*', timeMs: Date.parse('2021-04-07T14:42:25.534Z') },
    ]);
    for (const bad of ['', '@', 'a..b', 'x/', '1abc', 'main@xyz']) expect(parseRefPath(bad), bad).toBeUndefined();
  });
});

describe('CEL filter subset', () => {
  const run = (source: string, scope: Record<string, any>) => compileCel(source, Object.keys(scope))(scope);

  it('evaluates the filters floe and Iceberg send', () => {
    expect(
      run("refType == 'BRANCH' && ref.name.startsWith('wap/')", { refType: 'BRANCH', ref: { name: 'wap/1' } }),
    ).toBe(true);
    expect(run("refType == 'BRANCH' && ref.name.startsWith('wap/')", { refType: 'TAG', ref: { name: 'wap/1' } })).toBe(
      false,
    );
    const entry = { namespace: 'a.b', contentType: 'ICEBERG_TABLE', keyElements: ['a', 'b', 't'], encodedKey: 'a.b.t' };
    expect(run("entry.namespace == 'a.b' && entry.contentType == 'ICEBERG_TABLE'", { entry })).toBe(true);
    expect(run("size(entry.keyElements) == 3 && entry.encodedKey.startsWith('a.')", { entry })).toBe(true);
    expect(run("entry.contentType in ['NAMESPACE', 'ICEBERG_VIEW'] || !(entry.namespace != 'a.b')", { entry })).toBe(
      true,
    );
  });

  it('rejects what it does not implement, clearly', () => {
    expect(() =>
      compileCel('entry.keyElements.exists(e, e == "x")', ['entry'])({ entry: { keyElements: [] } }),
    ).toThrow(/exists/);
    expect(() => compileCel('foo == 1', ['entry'])).toThrow(/undeclared reference to 'foo'/);
    expect(() => compileCel("entry.name == 'x' ? true : false", ['entry'])).toThrow(/unexpected character/);
    expect(() => compileCel('entry.missing == 1', ['entry'])({ entry: {} })).toThrow(/no such field/);
  });
});
