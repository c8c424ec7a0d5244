// One declaration per request field (name, type, range, default, the names clients may use for
// it, any check of its own), from which validation, defaults, the CLI's flags and the README's
// field tables (scripts/doc-tables.mjs) are derived, so the library, the seed API, the
// WebSocket, the OpenAI routes and the CLI cannot drift apart.
import { ShimmyError } from './errors.js';

type FieldType = 'number' | 'integer' | 'boolean' | 'string' | 'stop' | 'enum' | 'object' | 'array' | 'any';

export interface Field {
  type: FieldType;
  /** Names accepted on the wire (snake_case, aliases); the library uses the key itself. */
  wire?: readonly string[];
  min?: number;
  max?: number;
  /** type 'enum': the values accepted. */
  values?: readonly (string | number | boolean)[];
  default?: unknown;
  required?: boolean;
  /**
   * A check beyond the type's: returns the value to use (it may convert it) or throws
   * invalid_request. `name` is the name the client used.
   */
  check?: (value: unknown, name: string) => unknown;
  /** How the type reads in the documentation when `type` alone would not say (e.g. 'string or [string]'). */
  shape?: string;
  doc: string;
}

export type Schema = Record<string, Field>;

type ValueOf<F extends Field> = F extends { check: (...args: never[]) => infer R }
  ? R
  : F['type'] extends 'number' | 'integer'
    ? number
    : F['type'] extends 'boolean'
      ? boolean
      : F['type'] extends 'string'
        ? string
        : F['type'] extends 'stop'
          ? string[]
          : F['type'] extends 'enum'
            ? F extends { values: readonly (infer V)[] } ? V : never
            : F['type'] extends 'object'
              ? Record<string, unknown>
              : F['type'] extends 'array'
                ? unknown[]
                : unknown;

type Present<F> = F extends { default: unknown } ? true : F extends { required: true } ? true : false;

/** What parseFields returns: a field with a default, or a required one, is always present; the others may be absent. */
export type Parsed<S extends Schema> = { [K in keyof S as Present<S[K]> extends true ? K : never]: ValueOf<S[K]> } & {
  [K in keyof S as Present<S[K]> extends true ? never : K]?: ValueOf<S[K]>;
};

/** A request body (or message) must be a JSON object before its fields are read. */
export function requestBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ShimmyError('invalid_request', 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

export function fail(name: string, message: string): never {
  throw new ShimmyError('invalid_request', `'${name}' ${message}`);
}

function checkType(name: string, field: Field, value: unknown): unknown {
  switch (field.type) {
    case 'any':
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') fail(name, 'must be a boolean');
      return value;
    case 'string':
      if (typeof value !== 'string') fail(name, 'must be a string');
      if (field.max !== undefined && value.length > field.max) fail(name, `must be at most ${field.max} characters`);
      return value;
    case 'enum':
      if (!field.values!.includes(value as string)) fail(name, `must be one of ${field.values!.map((v) => JSON.stringify(v)).join(', ')}`);
      return value;
    case 'object':
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(name, 'must be an object');
      return value;
    case 'array':
      if (!Array.isArray(value)) fail(name, 'must be an array');
      if (field.max !== undefined && value.length > field.max) fail(name, `may hold at most ${field.max} items`);
      return value;
    case 'stop': {
      const list = typeof value === 'string' ? [value] : value;
      if (!Array.isArray(list) || list.some((s) => typeof s !== 'string')) fail(name, 'must be a string or an array of strings');
      if (field.max !== undefined && list.length > field.max) fail(name, `may hold at most ${field.max} strings`);
      return list;
    }
    default: {
      if (typeof value !== 'number' || !Number.isFinite(value)) fail(name, 'must be a number');
      if (field.type === 'integer' && !Number.isInteger(value)) fail(name, 'must be an integer');
      if ((field.min !== undefined && value < field.min) || (field.max !== undefined && value > field.max)) {
        fail(name, `must be between ${field.min ?? '-∞'} and ${field.max ?? '∞'}`);
      }
      return value;
    }
  }
}

/** A field's command-line flag, without the dashes: its first wire name, dashed (max_tokens → max-tokens). */
export function flagName(field: Field): string | undefined {
  return field.wire?.[0]?.replace(/_/g, '-');
}

/** The same fields with other defaults (the seed API's and OpenAI's differ from the library's). */
export function withDefaults<S extends Schema, D extends { [K in keyof S]?: unknown }>(
  schema: S,
  defaults: D,
): { [K in keyof S]: K extends keyof D ? Omit<S[K], 'default'> & { default: D[K] } : S[K] } {
  const out: Schema = { ...schema };
  for (const [key, value] of Object.entries(defaults)) out[key] = { ...schema[key]!, default: value };
  return out as never;
}

/**
 * Validates `input` against `schema`. With `wire`, fields are read by their wire names (unknown
 * fields are ignored, as the seed requires); with `flags`, by their command-line flags (flagName);
 * otherwise by their library names. `null` counts as absent. Of two aliases given, the first
 * declared is used.
 */
export function parseFields<S extends Schema>(schema: S, input: Record<string, unknown>, options: { wire?: boolean; flags?: boolean } = {}): Parsed<S> {
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema)) {
    const flag = flagName(field);
    const names = options.flags ? (flag ? [flag] : []) : options.wire ? (field.wire ?? []) : [key];
    // The first name given wins; every alias given is checked all the same.
    for (const n of names) {
      if (input[n] === undefined || input[n] === null) continue;
      const name = options.flags ? `--${n}` : n;
      const checked = checkType(name, field, input[n]);
      const value = field.check ? field.check(checked, name) : checked;
      if (!(key in out)) out[key] = value;
    }
    if (key in out) continue;
    if (field.required) fail(names[0] ?? key, 'is required');
    if (field.default !== undefined) out[key] = field.default;
  }
  return out as Parsed<S>;
}
