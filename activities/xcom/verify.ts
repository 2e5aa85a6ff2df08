import type { ChangeStage, ComponentConfig, VerifyEvidence } from '../../domain/evidence.js';
import { XCOM_OBJECT_STORAGE_BACKEND } from '../../domain/airflow-env.js';
import type { Plan } from '../../domain/plan.js';
import { requireAdapter, type Adapters } from '../adapters.js';
import { gate, timed } from '../engine/timing.js';
import { inEachComponent } from '../engine/each-component.js';

/** Why one component's resolved config is not the stage's, or [] when it is. */
export function configMismatches(got: ComponentConfig, stage: ChangeStage, plan: Plan): string[] {
  const who = `${got.component} (${got.pod})`;
  if (got.error) return [`${who}: ${got.error}`];
  const problems: string[] = [];
  const wantClass = XCOM_OBJECT_STORAGE_BACKEND.split('.').pop();
  if (got.xcomClass !== wantClass)
    problems.push(`${who}: XCom resolves to ${got.xcomClass ?? 'nothing'}, not ${wantClass}`);
  if (got.path !== plan.spec.xcom.path)
    problems.push(`${who}: path resolves to ${JSON.stringify(got.path)}, not ${plan.spec.xcom.path}`);
  if (got.threshold !== stage.thresholdBytes)
    problems.push(`${who}: threshold resolves to ${got.threshold ?? 'nothing'}, not ${stage.thresholdBytes}`);
  if ((got.compression ?? '') !== plan.spec.xcom.compression)
    problems.push(
      `${who}: compression resolves to ${JSON.stringify(got.compression)}, not ${JSON.stringify(plan.spec.xcom.compression)}`,
    );
  return problems;
}

export function verifyActivities(adapters: Adapters) {
  return {
    /** §6.3: in each component's own Python, conf.get every key and resolve the XCom class. */
    async verifyConfig({ plan, stage }: { plan: Plan; stage: ChangeStage }): Promise<VerifyEvidence> {
      const probes = requireAdapter(
        adapters,
        'probes',
        plan,
        'resolve the config inside each Airflow component',
      );
      return timed(async () => {
        const components: ComponentConfig[] = await inEachComponent(plan.target.components, (component) =>
          probes.resolveConfig({ component }),
        );
        return { components, gate: gate(components.flatMap((c) => configMismatches(c, stage, plan))) };
      });
    },
  };
}
