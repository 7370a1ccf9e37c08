/**
 * A value built on first use and kept. Provider settings schemas are built this way: zod builds a
 * schema eagerly, and a command that never reads a provider's settings (most commands, for six of
 * the seven providers) should not pay for building it.
 */
export function onFirstUse<T>(build: () => T): () => T {
  let value: T | undefined;
  let built = false;
  return () => {
    if (!built) {
      value = build();
      built = true;
    }
    return value as T;
  };
}
