/**
 * A call given up when a shared signal fires, through an abort controller of its own: the Temporal
 * client adds an abort listener per call and never removes it, so a long-lived or shared signal
 * would collect them (and Node warns on stderr past ten).
 */
export async function followSignal<T>(signal: AbortSignal, call: (own: AbortSignal) => Promise<T>): Promise<T> {
  const own = new AbortController();
  const forward = () => own.abort();
  signal.addEventListener('abort', forward, { once: true });
  try {
    return await call(own.signal);
  } finally {
    signal.removeEventListener('abort', forward);
  }
}
