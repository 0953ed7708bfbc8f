/**
 * Objects keyed by names that come from data (payload fields, column names): `constructor`, `__proto__`, `toString`,
 * `hasOwnProperty` and `valueOf` are column names like any other.
 *
 * A plain `{}` inherits those names from `Object.prototype`: reading a missing `constructor` field yields a function,
 * and assigning `__proto__` replaces the prototype instead of storing a value. Rows and struct values are therefore
 * `bareObject()`s, whose prototype chain holds nothing, and values read from objects that may be plain (parsed JSON)
 * go through `ownValue`.
 *
 * Why not `Object.create(null)`: V8 keeps such objects in dictionary mode; rows built that way were 2–3× slower to fill
 * and read than object literals, while instances of a constructor whose prototype is itself bare stay in fast mode.
 */

// The constructor function's own `prototype` is replaced, so instances inherit from a bare object and nothing else.
function Bare(this: Record<string, unknown>): void {}
Bare.prototype = Object.create(null) as object;

/** An empty object that inherits no properties (not even `__proto__`'s setter). */
export function bareObject<T = unknown>(): Record<string, T> {
  return new (Bare as unknown as new () => Record<string, T>)();
}

const hasOwn = Object.prototype.hasOwnProperty;

/** `object[key]` when it is the object's own property, else undefined: never a value inherited from a prototype. */
export function ownValue(object: object, key: string): unknown {
  return hasOwn.call(object, key) ? (object as Record<string, unknown>)[key] : undefined;
}

/** Stores `value` under `key` as an own property, also when the key is `__proto__` and the object is a plain one. */
export function setOwn(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
  else object[key] = value;
}

/** Names a plain object inherits: reading them from a plain object needs `ownValue`. */
export function isInheritedName(name: string): boolean {
  return name in Object.prototype;
}
