// How a forward's outcome counts (DESIGN.md "Failover"). A desk that is down: a timeout, no
// connection, a 5xx, a 429, or an answer that is not one (not a JSON object, or not of the
// answer's shape). A desk that is misconfigured: 401/403/404 (our signature or its URL is wrong);
// it counts for the circuit and raises an alarm, but moves no user by itself. Any other answer
// means the desk is up: a slow 2xx within the timeout is a success.
import { DownstreamError } from '../errors';

export type ForwardOutcome = 'success' | 'failure' | 'misconfiguration' | 'refused';

const MISCONFIGURED = new Set([401, 403, 404]);

/** The outcome of a forward: `null` when it succeeded, else what it threw. */
export function classifyForward(error: unknown): ForwardOutcome {
  if (error === null || error === undefined) return 'success';
  if (!(error instanceof DownstreamError)) return 'failure';
  if (error.problem !== 'status') return 'failure'; // timeout, unreachable, bad_body
  const status = error.status ?? 0;
  if (status >= 500 || status === 429) return 'failure';
  if (MISCONFIGURED.has(status)) return 'misconfiguration';
  return 'refused';
}

/** Whether the outcome counts as a failure in a circuit's window. */
export const countsAgainstCircuit = (outcome: ForwardOutcome): boolean =>
  outcome === 'failure' || outcome === 'misconfiguration';
