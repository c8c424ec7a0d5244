// One declaration per request field (name, type, range, default, the names clients may use for
// it), from which validation and defaults are derived, so the library, the seed API, the
// WebSocket and the OpenAI routes cannot drift apart.
import { ShimmyError } from './errors.js';

type FieldType = 'number' | 'integer' | 'boolean' | 'string' | 'stop';

export interface Field {
  type: FieldType;
  /** Names accepted on the wire (snake_case, aliases); the library uses the key itself. */
  wire?: readonly string[];
  min?: number;
  max?: number;
  default?: unknown;
  doc: string;
}

export type Schema = Record<string, Field>;

type ValueOf<F extends Field> = F['type'] extends 'number' | 'integer'
  ? number
  : F['type'] extends 'boolean'
    ? boolean
    : F['type'] extends 'string'
      ? string
      : string[];

/** What parseFields returns: a field with a default is always present, the others may be absent. */
export type Parsed<S extends Schema> = { [K in keyof S as S[K] extends { default: unknown } ? K : never]: ValueOf<S[K]> } & {
  [K in keyof S as S[K] extends { default: unknown } ? never : K]?: ValueOf<S[K]>;
};

function fail(name: string, message: string): never {
  throw new ShimmyError('invalid_request', `'${name}' ${message}`);
}

function check(name: string, field: Field, value: unknown): unknown {
  switch (field.type) {
    case 'boolean':
      if (typeof value !== 'boolean') fail(name, 'must be a boolean');
      return value;
    case 'string':
      if (typeof value !== 'string') fail(name, 'must be a string');
      if (field.max !== undefined && value.length > field.max) fail(name, `must be at most ${field.max} characters`);
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

/**
 * Validates `input` against `schema`. With `wire`, fields are read by their wire names (unknown
 * fields are ignored, as the seed requires); with `flags`, by their command-line flags (flagName);
 * otherwise by their library names. `null` counts as absent. Defaults come from the schema unless
 * `defaults` overrides them.
 */
export function parseFields<S extends Schema>(
  schema: S,
  input: Record<string, unknown>,
  options: { wire?: boolean; flags?: boolean; defaults?: Partial<Parsed<S>> } = {},
): Parsed<S> {
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema)) {
    const flag = flagName(field);
    const names = options.flags ? (flag ? [flag] : []) : options.wire ? (field.wire ?? []) : [key];
    let value: unknown;
    let name = names[0] ?? key;
    for (const n of names) {
      if (input[n] !== undefined && input[n] !== null) {
        value = input[n];
        name = options.flags ? `--${n}` : n;
        break;
      }
    }
    if (value === undefined) {
      value = options.defaults && key in options.defaults ? options.defaults[key as keyof S] : field.default;
      if (value !== undefined) out[key] = value;
      continue;
    }
    out[key] = check(name, field, value);
  }
  return out as Parsed<S>;
}
