// Values test/support/global-setup.ts hands to every test file via `inject()`.
import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** host:port of the run's shared Temporal dev server. */
    temporalAddress: string;
    temporalNamespace: string;
    /** Base URL of that server's Web UI ('' for an external server without DURABOX_TEST_TEMPORAL_UI_URL). */
    temporalUiUrl: string;
    /** The frontend's HTTP API (`http://host:port`), or '' when not known. */
    temporalHttpUrl: string;
  }
}
