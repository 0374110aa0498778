/**
 * Memoizes a lookup by string key for `ttlMs`, keeping at most `capacity` keys (the oldest inserted goes first).
 * Bounded because keys are model names taken from requests: a client cycling through made-up names must not grow
 * memory. Expiring because a resolved price can depend on the time (dated price changes, off-peak hours).
 */
export function memoize<V>(
  lookup: (key: string, now: number) => V,
  { capacity, ttlMs }: { readonly capacity: number; readonly ttlMs: number },
): (key: string, now: number) => V {
  const entries = new Map<string, { readonly value: V; readonly expires: number }>();
  return (key, now) => {
    const hit = entries.get(key);
    if (hit && now < hit.expires) return hit.value;
    if (hit) entries.delete(key);
    const value = lookup(key, now);
    if (entries.size >= capacity) entries.delete(entries.keys().next().value!);
    entries.set(key, { value, expires: now + ttlMs });
    return value;
  };
}
