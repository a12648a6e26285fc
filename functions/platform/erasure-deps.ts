// The erasure's views of the deps, beside the composition root: the API function's (register and
// work list, reads of the user's data) and the eraser's (the same, the erasure key, its run's time
// budget, retention settings, the signed checkpoints when the function has them).
// The erasure key: in AWS the secret named by ERASURE_KEY_SECRET_ARN (the eraser's alone); a local
// run gives a key file (useErasureKey, or PARLEY_ERASURE_KEY_FILE).
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { fileErasureKey, secretsManagerErasureKey } from '../adapters/erasure-key';
import { functionSpecs } from '../contracts/routes';
import { checkpointOfUser, erasedCheckpointChecker } from '../domain/erasure/checkpoint';
import type { ErasureDeps, ErasureKeySource, EraserDeps } from '../domain/erasure/types';
import type { ErasedCheckpointChecker } from '../domain/erasure/verify-erased';
import { ENV, type StageConfig } from '../schemas/config';
import type { AppDeps } from './deps';
import { EnvironmentError } from './env';

/** The eraser's run: its timeout less a margin for writing the work list back. */
export const ERASER_BUDGET_MS = functionSpecs.eraser.timeoutSeconds * 1000 - 30_000;

export const WRITERS_DONE_MS =
  Math.max(
    ...Object.entries(functionSpecs)
      .filter(([name]) => name !== 'eraser')
      .map(([, spec]) => spec.timeoutSeconds),
  ) *
    1000 +
  60_000;

const localKeys = new WeakMap<StageConfig, ErasureKeySource>();
let environmentKey: ErasureKeySource | undefined;

/** The local runtime and tests: the erasure key of the functions built with this config. */
export const useErasureKey = (config: StageConfig, source: ErasureKeySource): void => {
  localKeys.set(config, source);
};

/** The erasure key these deps use; an EnvironmentError at the first use when none is given. */
export const erasureKeyOf = (deps: AppDeps): ErasureKeySource => {
  const local = localKeys.get(deps.config);
  if (local) return local;
  if (!environmentKey) {
    const arn = process.env[ENV.erasureKeySecretArn];
    const file = process.env[ENV.erasureKeyFile];
    if (arn) {
      let client: SecretsManagerClient | undefined;
      environmentKey = secretsManagerErasureKey({
        client: () => {
          client ??= new SecretsManagerClient({});
          return client;
        },
        secretArn: arn,
      });
    } else if (file) {
      environmentKey = fileErasureKey(file);
    } else {
      return {
        key: async () => {
          throw new EnvironmentError(
            `Environment variable ${ENV.erasureKeySecretArn} is not set: this function holds no erasure key.`,
          );
        },
      };
    }
  }
  return environmentKey;
};

/** The API function's view: reads of the user's data, the register and the work list. */
export const erasureDeps = (deps: AppDeps): ErasureDeps => ({
  history: deps.history,
  state: deps.state,
  notifications: deps.notifications,
  store: deps.erasureStore,
  clock: deps.clock,
  ids: deps.ids,
  log: deps.log,
  metrics: deps.metrics,
});

/** The eraser's view: the key, its run's budget, retention, the checkpoints' note. */
export const eraserDeps = (deps: AppDeps): EraserDeps => ({
  ...erasureDeps(deps),
  state: deps.state,
  key: erasureKeyOf(deps),
  budgetMs: ERASER_BUDGET_MS,
  writersDoneMs: WRITERS_DONE_MS,
  timer: deps.timer,
  retention: deps.config.retention,
  ...(deps.checkpoints ? { checkpointOf: checkpointOfUser(deps.checkpoints) } : {}),
});

/** Compares an erased chain with its tombstone's checkpoint, where checkpoints are kept. */
export const erasedCheckerOf = (deps: AppDeps): ErasedCheckpointChecker | undefined =>
  deps.checkpoints ? erasedCheckpointChecker(deps.checkpoints) : undefined;
