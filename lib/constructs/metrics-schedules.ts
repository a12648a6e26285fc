// The metrics function's two schedules (docs/METRICS.md): the nightly rollup of the days that
// matured, and the stuck-owner count every few minutes (the StuckOwners gauge an alarm watches).
// Both runs are idempotent: a rollup is written only where none is, a gauge is a level.
import { Duration } from 'aws-cdk-lib';
import { Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

export interface MetricsSchedulesProps {
  /** The metrics function (functions/handlers/metrics.ts). */
  function: IFunction;
  /**
   * When the rollup runs.
   * @default every day at 00:30 UTC
   */
  rollupSchedule?: Schedule;
  /**
   * How often stuck owners are counted.
   * @default 5 minutes
   */
  stuckEvery?: Duration;
}

export class MetricsSchedules extends Construct {
  public readonly rollup: Rule;
  public readonly stuck: Rule;

  constructor(scope: Construct, id: string, props: MetricsSchedulesProps) {
    super(scope, id);
    // A failed night is retried, then healed by the next night's look back over 7 days.
    this.rollup = new Rule(this, 'Rollup', {
      description: 'Daily rollup of the ownership metrics of the days that matured',
      schedule: props.rollupSchedule ?? Schedule.cron({ minute: '30', hour: '0' }),
      targets: [
        new LambdaFunction(props.function, {
          event: RuleTargetInput.fromObject({ task: 'rollup' }),
          retryAttempts: 2,
        }),
      ],
    });
    // A gauge: the next run measures again, so a failed one is not retried.
    this.stuck = new Rule(this, 'Stuck', {
      description: 'Count the users waiting on their owner (StuckOwners)',
      schedule: Schedule.rate(props.stuckEvery ?? Duration.minutes(5)),
      targets: [
        new LambdaFunction(props.function, {
          event: RuleTargetInput.fromObject({ task: 'stuck' }),
          retryAttempts: 0,
        }),
      ],
    });
  }
}
