// How deep a parsed JSON value nests, found without recursion: a hostile value can be far deeper
// than the stack (JSON.parse takes 100,000 levels; JSON.stringify then throws).

/** Whether `value` nests deeper than `limit` levels (an object or array is one level). */
export function depthExceeds(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (ArrayBuffer.isView(v)) continue; // an image's bytes: a leaf, however long
    if (depth > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}
