// Both stacks of one stage, wired together: used by bin/app.ts and by the tests, so the tests
// build exactly what `cdk synth` builds.
import type { App, Environment } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { ApiStack } from './api-stack';
import type { LoadedStage } from './config';
import { DataStack } from './data-stack';

export interface ParleyHandoverOptions {
  /** Account and region. @default - environment-agnostic */
  env?: Environment;
  /** Folder of the handler entry files. @default functions/handlers in this repository */
  handlersDir?: string;
}

/** Stack names: `ParleyHandover-{stage}-Data` and `ParleyHandover-{stage}-Api`. */
export const stackNames = (stage: string) => ({
  data: `ParleyHandover-${stage}-Data`,
  api: `ParleyHandover-${stage}-Api`,
});

export const addParleyHandover = (
  app: App,
  stage: LoadedStage,
  options: ParleyHandoverOptions = {},
): { data: DataStack; api: ApiStack } => {
  const names = stackNames(stage.config.stage);
  const data = new DataStack(app, names.data, {
    env: options.env,
    description: `parley-handover ${stage.config.stage}: tables and secrets (stateful, retained)`,
    config: stage.config,
    logRetention: stage.infra.logRetentionDays as RetentionDays,
    handlersDir: options.handlersDir,
  });
  const api = new ApiStack(app, names.api, {
    env: options.env,
    description: `parley-handover ${stage.config.stage}: functions, queue, HTTP API, alarms`,
    stage,
    history: data.history,
    state: data.state,
    secrets: data.secrets,
    checkpoints: data.checkpoints,
    handlersDir: options.handlersDir,
  });
  api.addStackDependency(data);
  return { data, api };
};
