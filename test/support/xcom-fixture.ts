/** The synthetic XCom history now ships with the local stack (local/xcom-history.ts); tests import it from here. */
export * from '../../local/xcom-history.js';
