/**
 * `--sample PCT` (cutover plan / start): CALIBRATE measures a TABLESAMPLE SYSTEM sample of PCT
 * percent of the xcom table's pages instead of scanning all of it, for tables too big to scan
 * during business hours. The figures become estimates with error bounds in the dossier, and the
 * near-inert gate does not pass on them when the projection is within the bound of
 * maxOffloadRows. Only the XCom runbook calibrates XCom sizes.
 */
import { XCOM_KIND } from '../domain/xcom-kind.js';
import { CliError, EXIT } from './exit-codes.js';

export const SAMPLE_OPTION_HELP =
  'calibrate on a TABLESAMPLE SYSTEM sample of PCT percent (0 < PCT <= 100) of the xcom table instead of the whole table; the figures are estimates with error bounds, and a gate within the bound does not pass';

/** The checked percent, or undefined without --sample; a field-named CliError when it is not usable. */
export function samplePercentOption(raw: string | undefined, kind: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const pct = /^\s*\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(pct > 0 && pct <= 100))
    throw new CliError(
      EXIT.BAD_INPUT,
      `--sample ${raw}: must be a number above 0 and at most 100 (a percent)`,
    );
  if (kind !== XCOM_KIND)
    throw new CliError(
      EXIT.BAD_INPUT,
      `--sample: only the ${XCOM_KIND} runbook calibrates XCom sizes; this plan is ${String(kind)}`,
    );
  return pct;
}
