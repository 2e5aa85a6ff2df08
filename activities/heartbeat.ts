/** Called by long operations so Temporal knows the worker is alive (and can cancel). */
export type Heartbeat = (details?: unknown) => void;
