/**
 * The processes a component started, wherever they went. Killing a component's process group is
 * not enough: Airflow moves some of its children into groups of their own (3.x task runners call
 * setpgid(0, 0) so the task supervisor can signal their subprocesses; 2.x's StandardTaskRunner and
 * DagFileProcessorManager do the same), and a child whose parent dies is reparented away from the
 * tree. So the tree is followed from /proc (Linux) while the component runs down: every process in
 * the leader's group, and every descendant of a process already seen, is remembered with its start
 * time (so a reused pid is never mistaken for it) until it is gone.
 */
import { readdirSync, readFileSync } from 'node:fs';

interface ProcStat {
  pid: number;
  ppid: number;
  pgid: number;
  state: string;
  /** Clock ticks after boot (field 22): with the pid, it names one process for good. */
  start: string;
}

/** /proc/<pid>/stat; the command name is in parentheses and may hold spaces or parentheses. */
function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const f = text
    .slice(close + 2)
    .trim()
    .split(' ');
  // After the name: state(3) ppid(4) pgrp(5) ... starttime(22), i.e. f[0], f[1], f[2], f[19].
  const [state, ppid, pgid, start] = [f[0], Number(f[1]), Number(f[2]), f[19]];
  if (!state || !Number.isInteger(ppid) || !Number.isInteger(pgid) || !start) return null;
  return { pid, ppid, pgid, state, start };
}

function allProcesses(): ProcStat[] {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: ProcStat[] = [];
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    const s = readStat(Number(n));
    if (s) out.push(s);
  }
  return out;
}

/** A zombie has exited; only its parent's wait() is missing. */
const exited = (s: ProcStat) => s.state === 'Z' || s.state === 'X';

export class ProcessTree {
  /** pid -> start time of every process seen in the tree. */
  private readonly seen = new Map<number, string>();

  constructor(private readonly leaderPgid: number) {}

  /** Adds the group's members and the descendants of anything seen so far. */
  refresh(): void {
    const procs = allProcesses();
    for (const p of procs) if (p.pgid === this.leaderPgid && !exited(p)) this.seen.set(p.pid, p.start);
    // Descendants, to any depth: repeat until a pass adds nothing.
    for (let added = true; added;) {
      added = false;
      for (const p of procs) {
        if (this.seen.has(p.pid) || exited(p)) continue;
        const parentStart = this.seen.get(p.ppid);
        if (parentStart !== undefined && this.isSame(p.ppid, parentStart)) {
          this.seen.set(p.pid, p.start);
          added = true;
        }
      }
    }
  }

  private isSame(pid: number, start: string): boolean {
    const s = readStat(pid);
    return s !== null && s.start === start && !exited(s);
  }

  /** The processes of the tree still running (each checked against its start time). */
  alive(): { pid: number; pgid: number }[] {
    const out: { pid: number; pgid: number }[] = [];
    for (const [pid, start] of this.seen) {
      const s = readStat(pid);
      if (s !== null && s.start === start && !exited(s)) out.push({ pid, pgid: s.pgid });
      else this.seen.delete(pid);
    }
    return out;
  }

  /** Signals the leader's group only, as a container runtime signals a pod's main process group. */
  signalGroup(sig: NodeJS.Signals): void {
    trySignal(-this.leaderPgid, sig);
  }

  /**
   * Signals the leader's group, then each live process of the tree that left it, and its own group
   * when it leads one (a task runner's subprocesses are in it). Never this process's own group.
   */
  signal(sig: NodeJS.Signals): void {
    const own = ownPgid();
    trySignal(-this.leaderPgid, sig);
    for (const p of this.alive()) {
      if (p.pgid === this.leaderPgid) continue;
      if (p.pgid === p.pid && p.pgid !== own) trySignal(-p.pgid, sig);
      else trySignal(p.pid, sig);
    }
  }
}

function trySignal(target: number, sig: NodeJS.Signals): void {
  try {
    process.kill(target, sig);
  } catch {
    // gone already
  }
}

let cachedOwnPgid: number | null = null;
function ownPgid(): number {
  cachedOwnPgid ??= readStat(process.pid)?.pgid ?? -1;
  return cachedOwnPgid;
}
