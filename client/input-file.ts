/** A file the operator named on the command line: unreadable is bad input (exit 2), said in one line. */
import { readFile } from 'node:fs/promises';
import { CliError, EXIT } from './exit-codes.js';

export async function readInputFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new CliError(
      EXIT.BAD_INPUT,
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
}
