/**
 * The subset of CEL (Common Expression Language) that Nessie `filter` parameters are written in by floe, Iceberg's
 * NessieCatalog and the Nessie CLI: `&&`, `||`, `!`, parentheses, `== != < <= > >=`, `in`, string/number/bool/null
 * literals, list literals, field access, indexing, `size(x)`/`x.size()` and the string methods `startsWith`,
 * `endsWith`, `contains`, `matches`. Examples:
 *   refType == 'BRANCH' && ref.name.startsWith('wap/')
 *   entry.namespace == 'sales' && entry.contentType == 'ICEBERG_TABLE'
 *   size(entry.keyElements) == 2 && entry.encodedKey.startsWith('sales.')
 * Anything else (macros like `exists`, arithmetic, ternaries, other functions) is rejected with a clear message rather
 * than guessed at: this is not a full CEL implementation.
 */

export type CelValue = string | number | boolean | null | CelValue[] | { [field: string]: CelValue };

type Node =
  | { kind: 'literal'; value: CelValue }
  | { kind: 'list'; items: Node[] }
  | { kind: 'ident'; name: string }
  | { kind: 'field'; target: Node; name: string }
  | { kind: 'index'; target: Node; index: Node }
  | { kind: 'call'; target?: Node; name: string; args: Node[] }
  | { kind: 'not'; operand: Node }
  | { kind: 'binary'; op: string; left: Node; right: Node };

export class CelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CelError';
  }
}

interface Token {
  type: 'str' | 'num' | 'ident' | 'op' | 'end';
  text: string;
  value?: CelValue;
  at: number;
}

const METHODS = ['size', 'startsWith', 'endsWith', 'contains', 'matches'];
const OPERATORS = ['&&', '||', '==', '!=', '<=', '>=', '<', '>', '!', '(', ')', '[', ']', ',', '.'];

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'" || c === '"') {
      let value = '';
      let j = i + 1;
      for (; j < source.length && source[j] !== c; j++) {
        if (source[j] === '\\' && j + 1 < source.length) {
          const escaped = source[++j];
          value += ({ n: '\n', t: '\t', r: '\r' } as Record<string, string>)[escaped] ?? escaped;
        } else {
          value += source[j];
        }
      }
      if (j >= source.length) throw new CelError(`unterminated string starting at position ${i}`);
      tokens.push({ type: 'str', text: source.slice(i, j + 1), value, at: i });
      i = j + 1;
    } else if (/[0-9]/.test(c)) {
      const match = /^[0-9]+(\.[0-9]+)?/.exec(source.slice(i))!;
      tokens.push({ type: 'num', text: match[0], value: Number(match[0]), at: i });
      i += match[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i))!;
      tokens.push({ type: 'ident', text: match[0], at: i });
      i += match[0].length;
    } else {
      const op = OPERATORS.find((o) => source.startsWith(o, i));
      if (!op) throw new CelError(`unexpected character '${c}' at position ${i}`);
      tokens.push({ type: 'op', text: op, at: i });
      i += op.length;
    }
  }
  tokens.push({ type: 'end', text: '', at: source.length });
  return tokens;
}

/** Parses a filter; throws CelError for syntax this subset does not support. */
export function parseCel(source: string, variables: readonly string[]): Node {
  const tokens = tokenize(source);
  let pos = 0;
  const peek = () => tokens[pos];
  const next = () => tokens[pos++];
  const accept = (text: string) => (peek().type === 'op' && peek().text === text ? next() : undefined);
  const expect = (text: string) => {
    if (!accept(text))
      throw new CelError(`expected '${text}' at position ${peek().at}, found '${peek().text || 'end of filter'}'`);
  };

  function or(): Node {
    let left = and();
    while (accept('||')) left = { kind: 'binary', op: '||', left, right: and() };
    return left;
  }
  function and(): Node {
    let left = unary();
    while (accept('&&')) left = { kind: 'binary', op: '&&', left, right: unary() };
    return left;
  }
  function unary(): Node {
    if (accept('!')) return { kind: 'not', operand: unary() };
    return comparison();
  }
  function comparison(): Node {
    const left = member();
    const token = peek();
    if (token.type === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(token.text)) {
      next();
      return { kind: 'binary', op: token.text, left, right: member() };
    }
    if (token.type === 'ident' && token.text === 'in') {
      next();
      return { kind: 'binary', op: 'in', left, right: member() };
    }
    return left;
  }
  function args(): Node[] {
    const list: Node[] = [];
    if (accept(')')) return list;
    do list.push(or());
    while (accept(','));
    expect(')');
    return list;
  }
  function member(): Node {
    let node = primary();
    for (;;) {
      if (accept('.')) {
        const name = next();
        if (name.type !== 'ident') throw new CelError(`expected a field name at position ${name.at}`);
        if (accept('(')) {
          if (!METHODS.includes(name.text))
            throw new CelError(
              `unsupported function '${name.text}' (this server supports size(), startsWith, endsWith, contains, matches)`,
            );
          node = { kind: 'call', target: node, name: name.text, args: args() };
        } else {
          node = { kind: 'field', target: node, name: name.text };
        }
      } else if (accept('[')) {
        node = { kind: 'index', target: node, index: or() };
        expect(']');
      } else {
        return node;
      }
    }
  }
  function primary(): Node {
    const token = next();
    if (token.type === 'str' || token.type === 'num') return { kind: 'literal', value: token.value! };
    if (token.type === 'op' && token.text === '(') {
      const inner = or();
      expect(')');
      return inner;
    }
    if (token.type === 'op' && token.text === '[') {
      const items: Node[] = [];
      if (!accept(']')) {
        do items.push(or());
        while (accept(','));
        expect(']');
      }
      return { kind: 'list', items };
    }
    if (token.type === 'ident') {
      if (token.text === 'true' || token.text === 'false') return { kind: 'literal', value: token.text === 'true' };
      if (token.text === 'null') return { kind: 'literal', value: null };
      if (accept('(')) {
        if (token.text !== 'size')
          throw new CelError(
            `unsupported function '${token.text}' (this server supports size(), startsWith, endsWith, contains, matches)`,
          );
        return { kind: 'call', name: token.text, args: args() };
      }
      if (!variables.includes(token.text))
        throw new CelError(`undeclared reference to '${token.text}' (available: ${variables.join(', ')})`);
      return { kind: 'ident', name: token.text };
    }
    throw new CelError(`unexpected '${token.text || 'end of filter'}' at position ${token.at}`);
  }

  const tree = or();
  if (peek().type !== 'end') throw new CelError(`unexpected '${peek().text}' at position ${peek().at}`);
  return tree;
}

function equal(a: CelValue, b: CelValue): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object') return JSON.stringify(a) === JSON.stringify(b);
  return a === b;
}

function evaluate(node: Node, scope: Record<string, CelValue>): CelValue {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'list':
      return node.items.map((item) => evaluate(item, scope));
    case 'ident':
      return scope[node.name] ?? null;
    case 'field': {
      const target = evaluate(node.target, scope);
      if (!target || typeof target !== 'object' || Array.isArray(target))
        throw new CelError(`no field '${node.name}' on a ${Array.isArray(target) ? 'list' : typeof target}`);
      if (!(node.name in target)) throw new CelError(`no such field '${node.name}'`);
      return target[node.name];
    }
    case 'index': {
      const target = evaluate(node.target, scope);
      const index = evaluate(node.index, scope);
      if (Array.isArray(target) && typeof index === 'number') {
        if (index < 0 || index >= target.length) throw new CelError(`index ${index} out of range`);
        return target[index];
      }
      if (target && typeof target === 'object' && !Array.isArray(target) && typeof index === 'string') {
        if (!(index in target)) throw new CelError(`no such key '${index}'`);
        return target[index];
      }
      throw new CelError('invalid index');
    }
    case 'call': {
      const values = node.args.map((arg) => evaluate(arg, scope));
      if (node.name === 'size') {
        const target = node.target ? evaluate(node.target, scope) : values[0];
        if (typeof target === 'string' || Array.isArray(target)) return target.length;
        if (target && typeof target === 'object') return Object.keys(target).length;
        throw new CelError('size() needs a string, list or map');
      }
      const target = node.target ? evaluate(node.target, scope) : undefined;
      const argument = values[0];
      if (typeof target !== 'string' || typeof argument !== 'string' || values.length !== 1)
        throw new CelError(`${node.name}() needs a string receiver and one string argument`);
      switch (node.name) {
        case 'startsWith':
          return target.startsWith(argument);
        case 'endsWith':
          return target.endsWith(argument);
        case 'contains':
          return target.includes(argument);
        case 'matches':
          return new RegExp(argument).test(target);
        default:
          throw new CelError(`unsupported function '${node.name}'`);
      }
    }
    case 'not': {
      const value = evaluate(node.operand, scope);
      if (typeof value !== 'boolean') throw new CelError('! needs a boolean');
      return !value;
    }
    case 'binary': {
      if (node.op === '&&' || node.op === '||') {
        const left = evaluate(node.left, scope);
        if (typeof left !== 'boolean') throw new CelError(`${node.op} needs booleans`);
        if (node.op === '&&' ? !left : left) return left;
        const right = evaluate(node.right, scope);
        if (typeof right !== 'boolean') throw new CelError(`${node.op} needs booleans`);
        return right;
      }
      const left = evaluate(node.left, scope);
      const right = evaluate(node.right, scope);
      switch (node.op) {
        case '==':
          return equal(left, right);
        case '!=':
          return !equal(left, right);
        case 'in':
          if (Array.isArray(right)) return right.some((item) => equal(item, left));
          if (right && typeof right === 'object' && typeof left === 'string') return left in right;
          throw new CelError("'in' needs a list or map on its right");
        default: {
          if (!(
            (typeof left === 'number' && typeof right === 'number') ||
            (typeof left === 'string' && typeof right === 'string')
          ))
            throw new CelError(`${node.op} needs two numbers or two strings`);
          if (node.op === '<') return left < right;
          if (node.op === '<=') return left <= right;
          if (node.op === '>') return left > right;
          return left >= right;
        }
      }
    }
  }
}

/** A compiled filter: a predicate over the declared variables. Evaluation errors throw CelError. */
export function compileCel(source: string, variables: readonly string[]): (scope: Record<string, CelValue>) => boolean {
  const tree = parseCel(source, variables);
  return (scope) => {
    const value = evaluate(tree, scope);
    if (typeof value !== 'boolean') throw new CelError('filter does not evaluate to a boolean');
    return value;
  };
}
