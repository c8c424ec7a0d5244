// Nested repetitions in a JSON schema's regular expressions, found before llama.cpp turns them into
// a grammar. `^((a{0,100}){0,100}){0,100}$` becomes a grammar that matches one text in a million
// ways: its parse stacks explode while sampling. llama.cpp's converter puts each repeated group in
// a rule of its own, where the grammar check (native/inference/grammar_check.cc) no longer sees the
// nesting, so the pattern is checked here, by the same rule and limit. What gets past both meets
// llama.cpp's own work limit while sampling (vendor/patches/0006).

/** As kMaxNestedRepetitions in native/inference/grammar_check.h. */
export const MAX_NESTED_REPETITIONS = 10_000;

/** The largest product of repetition counts of a group repeated with repetitions inside it. */
export function nestedRepetitions(pattern: string): number {
  const open: number[] = [1]; // per open group, the largest product inside it
  let worst = 1;
  let i = 0;
  const settle = (product: number) => {
    open[open.length - 1] = Math.max(open[open.length - 1]!, product);
  };
  // The count of the quantifier at i ({m,n} counts n, or m when unbounded; * + ? count 1), moving
  // past it. Read as llama.cpp's converter reads it: up to the next '}', each number as std::stoi
  // takes it (leading blanks and sign, then digits, then anything).
  const quantifier = (): number => {
    if (pattern[i] === '{') {
      const close = pattern.indexOf('}', i);
      if (close < 0) return 1; // the converter refuses it
      const parts = pattern.slice(i + 1, close).split(',');
      i = close + 1;
      const stoi = (s: string | undefined) => {
        const m = /^\s*[+-]?(\d+)/.exec(s ?? '');
        return m ? Math.min(Number(m[1]!.slice(0, 10)), 2 ** 31 - 1) : 0;
      };
      const min = stoi(parts[0]);
      const max = parts.length === 1 ? min : parts[1]!.trim() === '' ? min : stoi(parts[1]);
      return Math.max(max, 1);
    }
    if ('*+?'.includes(pattern[i] ?? '_')) i++;
    return 1;
  };
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\') {
      i += 2;
      settle(quantifier());
    } else if (c === '[') {
      i++; // up to the first unescaped ']', as the converter reads a class ([]a] is not JavaScript's)
      while (i < pattern.length && pattern[i] !== ']') i += pattern[i] === '\\' ? 2 : 1;
      i++;
      settle(quantifier());
    } else if (c === '(') {
      open.push(1);
      i++;
    } else if (c === ')') {
      const inside = open.length > 1 ? open.pop()! : 1;
      i++;
      const times = quantifier();
      const product = inside > 1 && times > 1 ? inside * times : Math.max(inside, times);
      if (inside > 1 && times > 1) worst = Math.max(worst, product);
      settle(product);
    } else {
      i++;
      if (c !== '|' && c !== '^' && c !== '$') settle(quantifier());
    }
  }
  return worst;
}

/** Keywords whose values are data, not schemas: a "pattern" key inside them is no pattern. */
const DATA_KEYWORDS = new Set(['const', 'enum', 'default', 'examples', 'example']);

/** Why a schema (or tools' parameters) carries a pattern over the limit, or undefined. Walks without recursion. */
export function patternRefusal(schema: unknown): string | undefined {
  const stack: unknown[] = [schema];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null) continue;
    for (const [key, child] of Object.entries(v)) {
      if (DATA_KEYWORDS.has(key)) continue;
      if (key === 'pattern' && typeof child === 'string') {
        const n = nestedRepetitions(child);
        if (n > MAX_NESTED_REPETITIONS) return `the pattern ${JSON.stringify(child.slice(0, 80))} nests repetitions ${n} times over (at most ${MAX_NESTED_REPETITIONS}, as the ways to match one text multiply)`;
      }
      stack.push(child);
    }
  }
  return undefined;
}
