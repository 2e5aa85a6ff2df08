/**
 * Locations in a Helm values file, as a GitOps change names them: dotted keys from the root map
 * (`extraConfigMaps.airflow-env.data`), or `.` for the root map itself (the chart's own values, such
 * as the official chart's `airflowVersion`).
 */
export const VALUES_ROOT = '.';

/** `sub` under `location` (directly under the root when location is VALUES_ROOT). */
export function locationUnder(location: string, sub: string): string {
  return location === VALUES_ROOT ? sub : `${location}.${sub}`;
}

/**
 * The official Airflow chart's values that name the release its images run: `airflowVersion` (what
 * the chart renders for) and `defaultAirflowTag` (the tag of `defaultAirflowRepository`, the image of
 * every Airflow container and of the migration Job unless `images.airflow.tag` overrides it).
 */
export function chartReleaseValues(release: string): Record<string, string> {
  return { airflowVersion: release, defaultAirflowTag: release };
}
