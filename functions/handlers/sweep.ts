// The timers' sweep (EventBridge every minute; a timer locally): lease warnings and expiries,
// offer expiries, bounded per run, one summary line. Nobody calls it over HTTP.
import type { Context } from 'aws-lambda';
import { runSweep } from '../domain/lifecycle/sweep';
import type { SweepSummary } from '../domain/lifecycle/types';
import type { DepsSource } from '../platform/deps';
import { flushMetrics, startInvocation } from '../platform/handler';
import { depsFromEnvironment } from '../platform/runtime';
import { sweepDeps } from '../platform/timers';

export const makeHandler =
  (deps: DepsSource) =>
  async (_event: unknown, context?: Context): Promise<SweepSummary> => {
    const d = await deps();
    startInvocation(d, context);
    try {
      // Parley names the default Service (which holds no lease): load its list once per run. A
      // failure leaves the last list known; the run goes on with it.
      await d.catalog.list().catch((err: unknown) => {
        d.log.warn('sweep: the services list could not be loaded', {
          error: err instanceof Error ? err.name : typeof err,
        });
      });
      return await runSweep(sweepDeps(d));
    } finally {
      flushMetrics(d);
    }
  };

export const handler = makeHandler(depsFromEnvironment());
