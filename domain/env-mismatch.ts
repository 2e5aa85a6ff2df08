/**
 * How a live environment differs from the one a rollout waits for, one sentence per variable:
 * shared by every rollout adapter so an operator reads the same words whatever the target.
 */
export type WantedEnv = Record<string, string | null>;

/** [] when `live` carries every wanted value (null = must be unset). */
export function envMismatches(live: Record<string, string | null | undefined>, want: WantedEnv): string[] {
  return Object.entries(want).flatMap(([k, v]) => {
    const is = live[k] ?? null;
    if (is === v) return [];
    return [
      v === null
        ? `${k} is still set`
        : is === null
          ? `${k} is not set`
          : `${k} is ${JSON.stringify(is)}, not ${JSON.stringify(v)}`,
    ];
  });
}
