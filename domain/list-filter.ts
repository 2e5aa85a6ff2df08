/** Temporal's List Filter syntax, shared by the CLI's queries and the worker's. */

/** A string literal for a List Filter. */
export function literal(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}
