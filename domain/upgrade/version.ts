/** Airflow release numbers as the upgrade compares them (x.y.z, no pre-releases). */
export const RELEASE_PATTERN = /^(\d+)\.(\d+)\.(\d+)$/;

export type Release = [number, number, number];

export function parseRelease(version: string): Release | null {
  const m = RELEASE_PATTERN.exec(version.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

/** <0 when a is older than b, 0 when equal, >0 when newer. Unparseable versions compare as equal. */
export function compareReleases(a: string, b: string): number {
  const x = parseRelease(a);
  const y = parseRelease(b);
  if (!x || !y) return 0;
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

/** A 2.x -> 3.x upgrade: the config lint and the Airflow 3 DAG rules apply. */
export function isMajorUpgrade(from: string, to: string): boolean {
  return (parseRelease(from)?.[0] ?? 0) < (parseRelease(to)?.[0] ?? 0);
}
