// Ollama's durations, for keep_alive and `serve --keep-alive`: a number of seconds, or "5m",
// "1h30m", "250ms"; any negative value means forever.

/** Beyond this (about 24.8 days, the longest timer Node keeps) a duration is forever. */
const LONGEST_MS = 2 ** 31 - 1;

/** Milliseconds, -1 for forever; throws a one-line Error for anything else. */
export function parseDuration(value: unknown): number {
  const ms = milliseconds(value);
  return ms < 0 || ms > LONGEST_MS ? -1 : ms;
}

function milliseconds(value: unknown): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value < 0 ? -1 : value * 1000;
  const bad = () => new Error('must be a duration such as "5m", "1h30m" or a number of seconds (negative: forever)');
  if (typeof value !== 'string' || value.length > 32) throw bad();
  if (/^-\d+(\.\d+)?(ms|s|m|h)?$/.test(value)) return -1;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) throw bad();
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
  return parts.reduce((ms, [, n, u]) => ms + Number(n) * unit[u as keyof typeof unit], 0);
}
