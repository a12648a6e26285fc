// The erasure's views of the deps, beside the composition root: the API function's (register and
// work list, reads of the user's data) and the eraser's (the same, the subject key, its run's time
// budget, retention settings, the signed checkpoints when the function has them).
// The subject key (the erasure key secret): platform/subject-key.ts.
import { functionSpecs } from '../contracts/routes';
import { checkpointOfUser, erasedCheckpointChecker } from '../domain/erasure/checkpoint';
import type { ErasureDeps, EraserDeps } from '../domain/erasure/types';
import type { ErasedCheckpointChecker } from '../domain/erasure/verify-erased';
import type { StageConfig } from '../schemas/config';
import type { AppDeps } from './deps';
import { subjectKeyOf } from './subject-key';

export { useErasureKey } from './subject-key';

/** The eraser's run: its timeout less a margin for writing the work list back. */
export const ERASER_BUDGET_MS = functionSpecs.eraser.timeoutSeconds * 1000 - 30_000;

/**
 * How long after a record's creation its writer may still be running: the longest timeout of any
 * other function (a list of the writers would go stale with the next one) and a minute for clocks.
 */
export const WRITERS_DONE_MS =
  Math.max(
    ...Object.entries(functionSpecs)
      .filter(([name]) => name !== 'eraser')
      .map(([, spec]) => spec.timeoutSeconds),
  ) *
    1000 +
  60_000;

const localWritersDone = new WeakMap<StageConfig, number>();

/**
 * The local runtime and tests: how long the writers of the functions built with this config may
 * run (no function timeout bounds them there). @default WRITERS_DONE_MS
 */
export const useWritersDoneMs = (config: StageConfig, ms: number): void => {
  localWritersDone.set(config, ms);
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
  key: subjectKeyOf(deps),
  budgetMs: ERASER_BUDGET_MS,
  writersDoneMs: localWritersDone.get(deps.config) ?? WRITERS_DONE_MS,
  timer: deps.timer,
  retention: deps.config.retention,
  ...(deps.checkpoints
    ? { checkpointOf: checkpointOfUser(deps.checkpoints, subjectKeyOf(deps)) }
    : {}),
});

/** Compares an erased chain with its tombstone's checkpoint, where checkpoints are kept. */
export const erasedCheckerOf = (deps: AppDeps): ErasedCheckpointChecker | undefined =>
  deps.checkpoints ? erasedCheckpointChecker(deps.checkpoints) : undefined;
