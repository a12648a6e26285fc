// Operational alarms (DESIGN.md "Operations"): the dead-letter queue not empty, each function's
// errors and throttles, API 5xx, failed handovers and the oldest pending handover older than
// staleAfter (the last two from metrics the functions emit in embedded metric format). With an
// e-mail address they notify an SNS topic.
import { Duration } from 'aws-cdk-lib';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  Metric,
  type IMetric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { FunctionName } from '../../functions/contracts/routes';
import { METRICS_NAMESPACE, METRICS_SERVICE } from './service-function';

/** The custom metrics the code emits (EMF, Powertools: dimension `service`). */
export const CUSTOM_METRICS = {
  handoverFailed: 'HandoverFailed',
  oldestPendingAge: 'OldestPendingAgeSeconds',
} as const;

export interface OperationalAlarmsProps {
  functions: Readonly<Record<FunctionName, IFunction>>;
  deadLetterQueue: IQueue;
  httpApi: IHttpApi;
  /** A pending handover older than this is stuck (the stage's staleAfterSeconds). */
  staleAfterSeconds: number;
  /**
   * Where alarms are sent (an SNS topic with an e-mail subscription).
   * @default - no topic: alarms are visible in the console only
   */
  alarmEmail?: string;
  /**
   * Evaluation period of every alarm.
   * @default 5 minutes
   */
  period?: Duration;
}

export class OperationalAlarms extends Construct {
  public readonly alarms: Alarm[] = [];
  public readonly topic?: Topic;

  constructor(scope: Construct, id: string, props: OperationalAlarmsProps) {
    super(scope, id);
    const period = props.period ?? Duration.minutes(5);

    if (props.alarmEmail) {
      // Alarm notifications carry alarm names and states only, no user data.
      this.topic = new Topic(this, 'Topic', {
        displayName: 'parley-handover alarms',
        enforceSSL: true,
      });
      this.topic.addSubscription(new EmailSubscription(props.alarmEmail));
    }

    const add = (name: string, metric: IMetric, threshold: number, description: string) => {
      const alarm = new Alarm(this, name, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      if (this.topic) alarm.addAlarmAction(new SnsAction(this.topic));
      this.alarms.push(alarm);
      return alarm;
    };

    add(
      'DeadLetterQueueNotEmpty',
      props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period,
        statistic: 'Maximum',
      }),
      0,
      'Callbacks reached the dead-letter queue: see the README runbook "DLQ redrive".',
    );
    for (const [name, fn] of Object.entries(props.functions)) {
      const id = name[0]!.toUpperCase() + name.slice(1);
      add(
        `${id}Errors`,
        fn.metricErrors({ period, statistic: 'Sum' }),
        0,
        `The ${name} function failed (errors or timeouts).`,
      );
      add(
        `${id}Throttles`,
        fn.metricThrottles({ period, statistic: 'Sum' }),
        0,
        `The ${name} function was throttled.`,
      );
    }
    add(
      'Api5xx',
      props.httpApi.metricServerError({ period, statistic: 'Sum' }),
      0,
      'The HTTP API answered 5xx.',
    );
    const custom = (metricName: string, statistic: string) =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: METRICS_SERVICE },
        period,
        statistic,
      });
    add(
      'HandoverFailed',
      custom(CUSTOM_METRICS.handoverFailed, 'Sum'),
      0,
      'A handover failed (Parley rejected it or the outcome was settled as failed).',
    );
    add(
      'PendingHandoverStale',
      custom(CUSTOM_METRICS.oldestPendingAge, 'Maximum'),
      props.staleAfterSeconds,
      `A pending handover is older than staleAfter (${props.staleAfterSeconds} s): see the README runbook "stuck pending".`,
    );
  }
}
