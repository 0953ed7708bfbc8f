/**
 * The text form of row filters used by `floe scan --where` and the dashboard:
 *   slot >= 10 and car_id = 'B-KX 4821'
 *   ts >= '2026-11-22T00:00:00Z' or (status in ('a', 'b') and not x is null)
 * Operators: = != <> < <= > >=, in (...), not in (...), is null, is not null, starts with '...'; combined with
 * and / or / not and parentheses. Literals: 'single-quoted strings' ('' escapes a quote), numbers, true, false.
 * Column names may be double-quoted ("Breed Name").
 */
import type { ComparisonOp, Expression, Literal } from './expressions.ts';

export class FilterSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position + 1}`);
    this.name = 'FilterSyntaxError';
  }
}

type Token = { kind: 'word' | 'string' | 'number' | 'op' | 'punct' | 'end'; text: string; at: number };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const at = i;
    if (c === "'") {
      let value = '';
      i++;
      while (true) {
        if (i >= text.length) throw new FilterSyntaxError('unterminated string', at);
        if (text[i] === "'" && text[i + 1] === "'") {
          value += "'";
          i += 2;
        } else if (text[i] === "'") {
          i++;
          break;
        } else value += text[i++];
      }
      tokens.push({ kind: 'string', text: value, at });
    } else if (c === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) throw new FilterSyntaxError('unterminated quoted column name', at);
      tokens.push({ kind: 'word', text: text.slice(i + 1, end), at });
      i = end + 1;
    } else if (/[-\d.]/.test(c) && /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.test(text.slice(i))) {
      const match = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(text.slice(i))!;
      tokens.push({ kind: 'number', text: match[0], at });
      i += match[0].length;
    } else if (/[<>=!]/.test(c)) {
      const match = /^(<=|>=|<>|!=|=|<|>)/.exec(text.slice(i));
      if (!match) throw new FilterSyntaxError(`unexpected '${c}'`, at);
      tokens.push({ kind: 'op', text: match[0], at });
      i += match[0].length;
    } else if (c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: 'punct', text: c, at });
      i++;
    } else if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(text.slice(i))!;
      tokens.push({ kind: 'word', text: match[0], at });
      i += match[0].length;
    } else {
      throw new FilterSyntaxError(`unexpected '${c}'`, at);
    }
  }
  tokens.push({ kind: 'end', text: '', at: text.length });
  return tokens;
}

const OPS: Record<string, ComparisonOp> = {
  '=': 'eq',
  '!=': 'notEq',
  '<>': 'notEq',
  '<': 'lt',
  '<=': 'ltEq',
  '>': 'gt',
  '>=': 'gtEq',
};

export function parseFilter(text: string): Expression {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = () => tokens[pos];
  const keyword = (word: string) => peek().kind === 'word' && peek().text.toLowerCase() === word;
  const expect = (kind: Token['kind'], text?: string) => {
    const token = peek();
    if (token.kind !== kind || (text !== undefined && token.text.toLowerCase() !== text)) {
      throw new FilterSyntaxError(
        `expected ${text ?? kind}${token.kind === 'end' ? ' but the filter ended' : `, got '${token.text}'`}`,
        token.at,
      );
    }
    pos++;
    return token;
  };

  const literal = (): Literal => {
    const token = peek();
    pos++;
    if (token.kind === 'string') return token.text;
    if (token.kind === 'number')
      return /^-?\d+$/.test(token.text) && !Number.isSafeInteger(Number(token.text))
        ? BigInt(token.text)
        : Number(token.text);
    if (token.kind === 'word' && /^(true|false)$/i.test(token.text)) return token.text.toLowerCase() === 'true';
    throw new FilterSyntaxError(`expected a value, got '${token.text || 'the end'}'`, token.at);
  };

  const predicate = (): Expression => {
    if (peek().kind === 'punct' && peek().text === '(') {
      pos++;
      const inner = or();
      expect('punct', ')');
      return inner;
    }
    if (keyword('not')) {
      pos++;
      return { op: 'not', arg: predicate() };
    }
    const column = expect('word').text;
    if (keyword('is')) {
      pos++;
      if (keyword('not')) {
        pos++;
        expect('word', 'null');
        return { op: 'notNull', ref: column };
      }
      expect('word', 'null');
      return { op: 'isNull', ref: column };
    }
    let negated = false;
    if (keyword('not')) {
      pos++;
      negated = true;
    }
    if (keyword('in')) {
      pos++;
      expect('punct', '(');
      const values = [literal()];
      while (peek().kind === 'punct' && peek().text === ',') {
        pos++;
        values.push(literal());
      }
      expect('punct', ')');
      return { op: negated ? 'notIn' : 'in', ref: column, values };
    }
    if (negated) throw new FilterSyntaxError("expected 'in' after 'not'", peek().at);
    if (keyword('starts')) {
      pos++;
      expect('word', 'with');
      const value = literal();
      if (typeof value !== 'string') throw new FilterSyntaxError('starts with needs a string', peek().at);
      return { op: 'startsWith', ref: column, value };
    }
    const op = expect('op').text;
    return { op: OPS[op], ref: column, value: literal() };
  };

  const and = (): Expression => {
    const args = [predicate()];
    while (keyword('and')) {
      pos++;
      args.push(predicate());
    }
    return args.length === 1 ? args[0] : { op: 'and', args };
  };

  const or = (): Expression => {
    const args = [and()];
    while (keyword('or')) {
      pos++;
      args.push(and());
    }
    return args.length === 1 ? args[0] : { op: 'or', args };
  };

  const result = or();
  if (peek().kind !== 'end') throw new FilterSyntaxError(`unexpected '${peek().text}'`, peek().at);
  return result;
}
