// Metrics in CloudWatch embedded metric format on Powertools Metrics, behind the domain's
// `MetricsSink` port. Metrics are buffered per dimension set and written by `flush()`, which every
// handler calls before it returns; `coldStart` is Powertools' ColdStart metric, written at once.
// POWERTOOLS_METRICS_DISABLED turns the output off (tests).
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricsSink } from '../domain/ports';

export interface MetricsOptions {
  /** @default "ParleyHandover" */
  namespace?: string;
  /** The `service` dimension. @default POWERTOOLS_SERVICE_NAME, else "parley-handover" */
  serviceName?: string;
}

export type AppMetrics = MetricsSink & {
  /** Writes every stored metric (one EMF line per dimension set) and empties the buffer. */
  flush(): void;
  /**
   * `ColdStart` (count 1, dimensions service and function_name) on the container's first
   * invocation, when Lambda initialized it on demand; nothing after.
   */
  coldStart(functionName: string): void;
};

/** Above this many distinct dimension sets, further sets are written at once, not buffered. */
const MAX_BUFFERED_SETS = 50;

export function createMetrics(options: MetricsOptions = {}): AppMetrics {
  const namespace = options.namespace ?? 'ParleyHandover';
  const serviceName =
    options.serviceName ?? (process.env.POWERTOOLS_SERVICE_NAME || 'parley-handover');
  const plain = new Metrics({ namespace, serviceName });
  // Powertools applies dimensions to every metric of a flush, so each dimension set gets its own
  // buffer, with the set as its default dimensions (kept across flushes).
  const byDimensions = new Map<string, Metrics>();

  const target = (dimensions: Record<string, string> | undefined): Metrics => {
    const entries = Object.entries(dimensions ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
    if (entries.length === 0) return plain;
    const key = JSON.stringify(entries);
    let metrics = byDimensions.get(key);
    if (!metrics) {
      const defaultDimensions = Object.fromEntries(entries);
      if (byDimensions.size >= MAX_BUFFERED_SETS) {
        const single = plain.singleMetric();
        single.addDimensions(defaultDimensions);
        return single;
      }
      metrics = new Metrics({ namespace, serviceName, defaultDimensions });
      byDimensions.set(key, metrics);
    }
    return metrics;
  };

  return {
    count(name, value = 1, dimensions) {
      target(dimensions).addMetric(name, MetricUnit.Count, value);
    },
    milliseconds(name, value, dimensions) {
      target(dimensions).addMetric(name, MetricUnit.Milliseconds, value);
    },
    gauge(name, value, unit, dimensions) {
      target(dimensions).addMetric(
        name,
        unit === 'Seconds' ? MetricUnit.Seconds : MetricUnit.Count,
        value,
      );
    },
    coldStart(functionName) {
      plain.captureColdStartMetric(functionName);
    },
    flush() {
      for (const metrics of [plain, ...byDimensions.values()]) {
        if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
      }
    },
  };
}
