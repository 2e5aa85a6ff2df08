/**
 * The upgrade's inventory probe (probes/upgrade_inventory.py) over an ExecPort, through the shared
 * probe runner: what a component runs, read inside it (Airflow and Python versions, providers with
 * their own `apache-airflow` requirement, the DAG folder, the names of the config options it sets).
 */
import type { Heartbeat } from '../activities/heartbeat.js';
import type { Component } from '../domain/plan.js';
import type { InstalledProvider } from './airflow-upgrade-cli.js';
import type { ExecPort } from './exec/port.js';
import { ProbeRunner } from './probe-runner.js';

export interface ConfigOptionSet {
  section: string;
  option: string;
  /** Where it is set: `airflow.cfg`, `env`, `env_cmd`, `env_secret`. */
  sources: string[];
}

export interface UpgradeInventory {
  component: string;
  airflowVersion: string;
  python: { version: string; implementation: string; executable: string };
  providers: InstalledProvider[];
  dagsFolder: string;
  /** The airflow.cfg Airflow reads there, and whether it existed before the probe imported Airflow. */
  configFile: { path: string; existed: boolean };
  /** Names only: a value may be a secret. */
  configOptions: ConfigOptionSet[];
  host: string;
}

export interface UpgradeInventoryOptions {
  /** The python to run in a component (default ['python'], from the component's PATH). */
  python?: (component: Component) => string[];
  probesDir?: string;
  timeoutMs?: number;
  heartbeatEveryMs?: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function text(r: Record<string, unknown>, key: string, what: string): string {
  const v = r[key];
  if (typeof v !== 'string') throw new Error(`the upgrade_inventory probe answered no ${what} (${key})`);
  return v;
}

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

export class UpgradeInventoryProbe {
  private readonly runner: ProbeRunner;

  constructor(
    execPort: ExecPort,
    private readonly options: UpgradeInventoryOptions = {},
  ) {
    this.runner = new ProbeRunner(execPort, options);
  }

  async inventory(component: Component, heartbeat?: Heartbeat): Promise<UpgradeInventory> {
    const r = await this.runner.run({
      probe: 'upgrade_inventory',
      libs: [],
      component,
      request: {},
      timeoutMs: this.options.timeoutMs ?? 120_000,
      ...(heartbeat ? { heartbeat } : {}),
    });
    if (!isRecord(r)) throw new Error('the upgrade_inventory probe returned no object');
    const python = isRecord(r['python']) ? r['python'] : {};
    const configFile = isRecord(r['configFile']) ? r['configFile'] : {};
    return {
      component: component.name,
      airflowVersion: text(r, 'airflowVersion', 'Airflow version'),
      python: {
        version: text(python, 'version', 'Python version'),
        implementation: typeof python['implementation'] === 'string' ? python['implementation'] : '',
        executable: typeof python['executable'] === 'string' ? python['executable'] : '',
      },
      providers: (Array.isArray(r['providers']) ? r['providers'] : []).filter(isRecord).map((p) => ({
        name: text(p, 'name', 'provider name'),
        version: text(p, 'version', 'provider version'),
        airflowRequirements: strings(p['airflowRequirements']),
      })),
      dagsFolder: text(r, 'dagsFolder', 'DAG folder'),
      configFile: {
        path: typeof configFile['path'] === 'string' ? configFile['path'] : '',
        existed: configFile['existed'] === true,
      },
      configOptions: (Array.isArray(r['configOptions']) ? r['configOptions'] : [])
        .filter(isRecord)
        .map((o) => ({
          section: text(o, 'section', 'config section'),
          option: text(o, 'option', 'config option'),
          sources: strings(o['sources']),
        })),
      host: typeof r['host'] === 'string' ? r['host'] : '',
    };
  }
}
