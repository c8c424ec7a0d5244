#!/usr/bin/env node
// npm run docs:tables — writes the README's tables from what lib/ declares: the request-field
// tables from the declarations (lib/engine/schema.ts), between <!-- fields:NAME --> and
// <!-- /fields --> markers, and the error tables from the registry (lib/engine/errors.ts), between
// <!-- errors:NAME --> and <!-- /errors -->. `--check` writes nothing and exits 1 when the README
// is not what lib/ says (test/unit/readme.test.mjs checks the same).
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cliGenerateFields } from '../dist/cli/generate.js';
import { errorRegistry } from '../dist/engine/errors.js';
import { flagName } from '../dist/engine/schema.js';
import { generationFields } from '../dist/engine/options.js';
import { generateRequestFields, websocketCancelFields, websocketRequestFields } from '../dist/server/seed/request.js';
import { chatFields, completionFields, embeddingFields } from '../dist/server/openai/request.js';
import { messagesFields } from '../dist/server/anthropic/request.js';
import { responsesFields } from '../dist/server/responses/request.js';
import { tokenizeFields } from '../dist/server/llama-server/routes.js';
import { chatFields as ollamaChatFields } from '../dist/server/ollama/request.js';

const root = resolve(import.meta.dirname, '..');
const readme = join(root, 'README.md');

/** Each table: the schema, and how its fields are named (on the wire, in the library, as flags). */
export const tables = {
  library: { schema: generationFields, names: 'library' },
  'api-generate': { schema: generateRequestFields, names: 'wire' },
  websocket: { schema: { ...websocketRequestFields, ...websocketCancelFields }, names: 'wire' },
  'openai-completions': { schema: completionFields, names: 'wire' },
  'openai-chat': { schema: chatFields, names: 'wire' },
  'openai-embeddings': { schema: embeddingFields, names: 'wire' },
  'anthropic-messages': { schema: messagesFields, names: 'wire' },
  'openai-responses': { schema: responsesFields, names: 'wire' },
  'llama-tokenize': { schema: tokenizeFields, names: 'wire' },
  'ollama-chat': { schema: ollamaChatFields, names: 'wire' },
  'cli-generate': { schema: cliGenerateFields, names: 'flags' },
};

const code = (s) => `\`${s}\``;
const cell = (s) => String(s).replace(/\|/g, '\\|');

function typeOf(field) {
  if (field.shape) return field.shape;
  if (field.type === 'enum') return field.values.map((v) => JSON.stringify(v)).join(', ');
  return field.type === 'stop' ? 'string or [string]' : field.type;
}

function range(field) {
  if (field.type === 'string' || field.type === 'array' || field.type === 'stop') return field.max !== undefined ? `≤ ${field.max.toLocaleString('en')} ${field.type === 'string' ? 'characters' : 'items'}` : '';
  if (field.min === undefined && field.max === undefined) return '';
  const n = (v) => (v === Number.MAX_SAFE_INTEGER ? '2^53−1' : Math.abs(v) >= 2 ** 20 ? `2^${Math.log2(Math.abs(v))}` : String(v));
  return `${field.min !== undefined ? n(field.min) : '−∞'} … ${field.max !== undefined ? n(field.max) : '∞'}`;
}

function names(key, field, how) {
  if (how === 'library') return [key];
  if (how === 'flags') return flagName(field) ? [`--${flagName(field)}`] : [];
  return field.wire ?? [];
}

export function renderTable(name) {
  const { schema, names: how } = tables[name];
  const rows = Object.entries(schema).flatMap(([key, field]) => {
    const shown = names(key, field, how);
    if (shown.length === 0) return [];
    const fallback = field.required ? 'required' : field.default !== undefined ? code(JSON.stringify(field.default)) : '';
    return [`| ${shown.map(code).join(' / ')} | ${cell(typeOf(field))} | ${fallback} | ${cell(range(field))} | ${cell(field.doc)} |`];
  });
  return ['| field | type | default | range | what |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

/**
 * The error tables: `wire`, the codes an error object carries on the server (with their HTTP
 * status, OpenAI type and the library codes reported as each); `library`, the codes ShimmyError
 * carries in the library.
 */
export function renderErrors(name) {
  const entries = Object.entries(errorRegistry);
  if (name === 'wire') {
    const rows = entries.filter(([, e]) => !e.sentAs).map(([sent, e]) => {
      const also = entries.filter(([, other]) => other.sentAs === sent).map(([c, other]) => `${code(c)}: ${other.meaning}`);
      return `| ${code(sent)} | ${e.status} | ${e.openAiType} | ${cell([e.meaning, ...also].join('; '))}${e.retry ? ' (sent with `Retry-After: 1`)' : ''} |`;
    });
    return ['| code | status | OpenAI type | when |', '| --- | --- | --- | --- |', ...rows].join('\n');
  }
  if (name === 'library') {
    const rows = entries.filter(([, e]) => e.raisedBy === 'library').map(([c, e]) => `| ${code(c)} | ${cell(e.meaning)} | ${code(e.sentAs ?? c)} (${e.status}) |`);
    return ['| code | when | on the server |', '| --- | --- | --- |', ...rows].join('\n');
  }
  throw new Error(`README names an unknown error table: ${name}`);
}

/** The README with every marked table regenerated. */
export function withTables(text) {
  return text
    .replace(/<!-- fields:([\w-]+) -->[\s\S]*?<!-- \/fields -->/g, (_, name) => {
      if (!tables[name]) throw new Error(`README names an unknown field table: ${name}`);
      return `<!-- fields:${name} -->\n${renderTable(name)}\n<!-- /fields -->`;
    })
    .replace(/<!-- errors:([\w-]+) -->[\s\S]*?<!-- \/errors -->/g, (_, name) => `<!-- errors:${name} -->\n${renderErrors(name)}\n<!-- /errors -->`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const text = readFileSync(readme, 'utf8');
  const next = withTables(text);
  if (process.argv.includes('--check')) {
    if (next !== text) {
      console.error('README.md: its tables differ from the declarations and the error registry; run npm run docs:tables');
      process.exit(1);
    }
  } else if (next !== text) {
    writeFileSync(readme, next);
    console.log('README.md: tables rewritten');
  }
}
