// One deadline per request for all of its Parley calls (DESIGN.md, "Timeouts form one chain"):
// each call gets what is left of the request's time, so a handover that retries and settles
// unknown outcomes still answers (503/504, the marker left for recovery) before its function's
// timeout, instead of being cut off by the platform.
import { ParleyTimeoutError } from './errors';
import type { Clock, ParleyCallOptions } from './ports';

/** Parley time of one request when none is configured: below the handover function's 15 s. */
export const DEFAULT_REQUEST_BUDGET_MS = 12_000;

export interface Deadline {
  clock: Clock;
  /** Measures elapsed time for the deadline. @default clock */
  timer?: Clock;
  /** Parley time of one request, in ms. @default DEFAULT_REQUEST_BUDGET_MS */
  requestBudgetMs?: number;
  /** When the current request's Parley time ends (ms on `timer`); set by withDeadline. */
  deadlineMs?: number;
}

/** The deps with a deadline: the caller's own if it has one (a nested use case shares it). */
export const withDeadline = <D extends Deadline>(deps: D): D =>
  deps.deadlineMs !== undefined
    ? deps
    : {
        ...deps,
        deadlineMs:
          (deps.timer ?? deps.clock).now() + (deps.requestBudgetMs ?? DEFAULT_REQUEST_BUDGET_MS),
      };

/**
 * The options for the next Parley call: what is left of the request's time. With none left the
 * call is not made: a ParleyTimeoutError (an unknown outcome, 504) is thrown instead.
 */
export function callBudget(deps: Deadline, method: string, what: string): ParleyCallOptions {
  if (deps.deadlineMs === undefined) return {};
  const budgetMs = deps.deadlineMs - (deps.timer ?? deps.clock).now();
  if (budgetMs <= 0) throw new ParleyTimeoutError(method, what, 0);
  return { budgetMs };
}
