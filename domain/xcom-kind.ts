/** The XCom flip's names, apart from its types so the plan schema and the workflow both import them. */

/** The plan kind of the XCom flip. */
export const XCOM_KIND = 'XComBackendCutover';

/** The workflow type of the XCom flip; recorded histories carry this name, so it never changes. */
export const WORKFLOW_TYPE = 'xcomBackendCutover';
