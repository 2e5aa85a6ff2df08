/**
 * Whether an Airflow release exists on the package index, asked before an upgrade starts: a typo in
 * `spec.upgrade.toVersion` is refused at `validate` rather than found in PREFLIGHT. The index's
 * simple API in its JSON form (PEP 691; PEP 700's `versions`), what pip and uv read: PyPI by
 * default, CUTOVER_PACKAGE_INDEX_URL for a mirror (its /simple base URL).
 */
export type ReleaseOnIndex = { found: true } | { found: false; url: string } | { unknown: string };

const DEFAULT_INDEX = 'https://pypi.org/simple';

export async function airflowReleaseOnIndex(
  version: string,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 10_000,
): Promise<ReleaseOnIndex> {
  const base = (env.CUTOVER_PACKAGE_INDEX_URL?.trim() || DEFAULT_INDEX).replace(/\/+$/, '');
  const url = `${base}/apache-airflow/`;
  try {
    const res = await fetch(url, {
      headers: { accept: 'application/vnd.pypi.simple.v1+json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.status !== 200) {
      await res.body?.cancel();
      return { unknown: `${url} answered ${res.status}` };
    }
    const body = (await res.json()) as { versions?: unknown };
    if (!Array.isArray(body.versions)) return { unknown: `${url} lists no versions (not a PEP 700 index)` };
    return body.versions.includes(version) ? { found: true } : { found: false, url };
  } catch (err) {
    return { unknown: `${url}: ${err instanceof Error ? err.message : String(err)}` };
  }
}
