/**
 * The last line of defence against leftovers: the child processes of this process, read from
 * /proc (Linux), and killing them by pid. A child that leads its own process group (the worker's
 * probes run detached so that a timeout can kill their grandchildren) is killed with its group;
 * any other child alone, never this process's own group.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ChildProcessInfo {
  pid: number;
  /** True when the child leads its own process group. */
  groupLeader: boolean;
  command: string;
}

/** The live (not zombie) children of `parent`; empty where /proc is not available. */
export function childProcesses(parent: number = process.pid): ChildProcessInfo[] {
  if (process.platform !== 'linux') return [];
  const out: ChildProcessInfo[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after "(comm) ": state, ppid, pgrp, ...
      const [state, ppid, pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) !== parent || state === 'Z') continue;
      const pid = Number(entry);
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      out.push({ pid, groupLeader: Number(pgrp) === pid, command });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * Every live process below `root`, parents before children. The Airflow components run below the
 * supervisor in process groups of their own: a supervisor killed outright would orphan them, so
 * the last line of defence must see them before it kills their parent.
 */
export function descendantProcesses(root: number = process.pid): ChildProcessInfo[] {
  const out: ChildProcessInfo[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    for (const c of childProcesses(pid)) {
      out.push(c);
      queue.push(c.pid);
    }
  }
  return out;
}

/** SIGKILLs the given children (group leaders with their group). Returns those it signalled. */
export function killChildren(children: ChildProcessInfo[]): ChildProcessInfo[] {
  const killed: ChildProcessInfo[] = [];
  for (const c of children) {
    try {
      process.kill(c.groupLeader ? -c.pid : c.pid, 'SIGKILL');
      killed.push(c);
    } catch {
      // already gone
    }
  }
  return killed;
}

/** A short label for a command line: the program and what it runs. */
export function shortCommand(command: string, max = 80): string {
  const oneLine = command.replace(/\s+/g, ' ');
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 3)}...`;
}
