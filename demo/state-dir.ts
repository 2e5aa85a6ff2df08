/**
 * One demo per state directory: two would share the dev server's database file, the env file and
 * (with the default --db) the database.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { shown } from './output.js';

function demoRunningAs(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (process.platform !== 'linux') return true;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('demo/main');
  } catch {
    return false;
  }
}

/** <dir>/demo.pid holds the running demo's pid; a stale one is replaced; the file goes at exit. */
export function lockStateDir(dir: string): void {
  const file = path.join(dir, 'demo.pid');
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      process.once('exit', () => {
        try {
          if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file);
        } catch {
          // already gone
        }
      });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && demoRunningAs(pid))
        throw new Error(
          `another demo (pid ${pid}) is running with ${shown(dir)}: stop it (Ctrl-C), or give this one its own --dir and --db`,
        );
      rmSync(file, { force: true }); // left by a demo that was killed
    }
  }
}
