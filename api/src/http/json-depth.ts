/** True when a parsed JSON value nests deeper than `max` levels (checked without recursion). */
export function exceedsDepth(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth > max) return true;
    for (const child of Object.values(current as object)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** True when an object key anywhere in a parsed JSON value contains NUL (BSON cannot store it). */
export function hasNulKey(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (current === null || typeof current !== 'object') continue;
    for (const [key, child] of Object.entries(current as object)) {
      if (key.includes('\u0000')) return true;
      if (child !== null && typeof child === 'object') stack.push(child);
    }
  }
  return false;
}
