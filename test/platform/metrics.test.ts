// Metrics in embedded metric format: one EMF line per dimension set at flush, the namespace and
// units as the port names them, nothing written when nothing was recorded, and the ColdStart
// metric once per container.
import { createMetrics } from '../../functions/platform/metrics';

/** Sets the variables, runs `fn`, and puts each variable back as it was (or unset). */
const withEnv = <T>(vars: Record<string, string>, fn: () => T): T => {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
};

/** Runs `fn` with metrics output enabled and returns the EMF documents written to stdout. */
const emitted = (fn: () => void): Record<string, unknown>[] =>
  withEnv({ POWERTOOLS_METRICS_DISABLED: 'false' }, () => captured(fn));

const captured = (fn: () => void): Record<string, unknown>[] => {
  const lines: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    fn();
  } finally {
    spy.mockRestore();
  }
  return lines.map((l) => JSON.parse(l));
};

/** What CloudWatch reads from a document: namespace, dimensions, metric units and values. */
const summary = (doc: Record<string, unknown>) => {
  const aws = doc._aws as {
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  const directive = aws.CloudWatchMetrics[0]!;
  return {
    namespace: directive.Namespace,
    dimensions: Object.fromEntries(directive.Dimensions[0]!.map((d) => [d, doc[d]])),
    metrics: Object.fromEntries(directive.Metrics.map((m) => [m.Name, [m.Unit, doc[m.Name]]])),
  };
};

describe('createMetrics', () => {
  it('writes one EMF document per dimension set when flushed', () => {
    const docs = emitted(() => {
      const metrics = createMetrics({ serviceName: 'handover' });
      metrics.count('Handovers', 1, { source: 'api', status: 'completed' });
      metrics.count('Handovers', 1, { status: 'completed', source: 'api' });
      metrics.milliseconds('ParleyLatency', 42);
      metrics.gauge('OldestPendingAgeSeconds', 7, 'Seconds');
      metrics.flush();
    });
    expect(docs.map(summary)).toEqual([
      {
        namespace: 'ParleyHandover',
        dimensions: { service: 'handover' },
        metrics: {
          ParleyLatency: ['Milliseconds', 42],
          OldestPendingAgeSeconds: ['Seconds', 7],
        },
      },
      {
        namespace: 'ParleyHandover',
        dimensions: { service: 'handover', source: 'api', status: 'completed' },
        metrics: { Handovers: ['Count', [1, 1]] },
      },
    ]);
  });

  it('writes nothing on a flush with nothing recorded, and nothing twice', () => {
    const docs = emitted(() => {
      const metrics = createMetrics({ namespace: 'Test' });
      metrics.flush();
      metrics.count('Duplicates');
      metrics.flush();
      metrics.flush();
    });
    expect(docs.map(summary)).toEqual([
      {
        namespace: 'Test',
        dimensions: { service: 'parley-handover' },
        metrics: { Duplicates: ['Count', 1] },
      },
    ]);
  });

  it('writes ColdStart once, on the first invocation of a container started on demand', () => {
    const docs = emitted(() => {
      // Lambda sets the initialization type before the container's code runs.
      const metrics = withEnv({ AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand' }, () =>
        createMetrics({ serviceName: 'handover' }),
      );
      metrics.coldStart('parley-processor');
      metrics.coldStart('parley-processor');
      metrics.flush();
    });
    expect(docs.map(summary)).toEqual([
      {
        namespace: 'ParleyHandover',
        dimensions: { service: 'handover', function_name: 'parley-processor' },
        metrics: { ColdStart: ['Count', 1] },
      },
    ]);
  });

  it('writes no ColdStart for a container Lambda started ahead (provisioned concurrency)', () => {
    const docs = emitted(() => {
      const metrics = withEnv({ AWS_LAMBDA_INITIALIZATION_TYPE: 'provisioned-concurrency' }, () =>
        createMetrics(),
      );
      metrics.coldStart('parley-processor');
      metrics.flush();
    });
    expect(docs).toEqual([]);
  });
});
