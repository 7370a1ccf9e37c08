/**
 * `DURABOX_TRACE=1`: one stderr line per milestone of a command, `durabox-trace <ms> <label>`, with
 * milliseconds since the process started. The benches read them to say where a run's time goes.
 */
export function trace(label: string): void {
  if (process.env.DURABOX_TRACE === '1') process.stderr.write(`durabox-trace ${Math.round(performance.now())} ${label}\n`);
}
