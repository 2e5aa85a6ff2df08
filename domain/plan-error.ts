/**
 * A plan that does not validate, with every problem named by field. In a module of its own, without
 * the parser and schemas, so that the CLI can tell it apart from other errors without loading them.
 */
export class PlanError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: invalid plan\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PlanError';
  }
}
