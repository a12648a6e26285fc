// Operational alarms (DESIGN.md "Operations"): both dead-letter queues not empty, each function's
// errors and throttles, API 5xx, the outbox relay's and the timers' sweep's own failures, and from
// the metrics the functions emit in embedded metric format: failed handovers, the oldest pending
// handover older than staleAfter, a failover with no target, a misconfigured downstream, an opened
// circuit, a sweep lagging behind its timers. With an e-mail address they notify an SNS topic.
import { Duration } from 'aws-cdk-lib';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  type IMetric,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IRule } from 'aws-cdk-lib/aws-events';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { FunctionName } from '../../functions/contracts/routes';
import { METRICS_NAMESPACE, METRICS_SERVICE } from './service-function';

/** The custom metrics the code emits (EMF, Powertools: dimension `service`, often others too). */
export const CUSTOM_METRICS = {
  handoverFailed: 'HandoverFailed',
  oldestPendingAge: 'OldestPendingAgeSeconds',
  failoverTargetUnavailable: 'FailoverTargetUnavailable',
  downstreamMisconfigured: 'DownstreamMisconfigured',
  circuitOpened: 'CircuitOpened',
  sweepLag: 'SweepLagSeconds',
  stuckOwners: 'StuckOwners',
} as const;

/** A timer due longer than this when a sweep ran means the sweep is not keeping up (LIFECYCLE.md). */
export const SWEEP_LAG_ALARM_SECONDS = 300;

export interface OperationalAlarmsProps {
  functions: Readonly<Record<FunctionName, IFunction>>;
  deadLetterQueue: IQueue;
  /** The notify queue's dead-letter queue: notifications that used their whole retry window. */
  notifyDeadLetterQueue: IQueue;
  /** The outbox relay: the function its schedule invokes, and the schedule. */
  relay: { function: IFunction; rule: IRule };
  /** The timers' sweep: the function its schedule invokes, and the schedule. */
  sweep: { function: IFunction; rule: IRule };
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

    const add = (
      name: string,
      metric: IMetric,
      threshold: number,
      description: string,
      comparisonOperator = ComparisonOperator.GREATER_THAN_THRESHOLD,
    ) => {
      const alarm = new Alarm(this, name, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator,
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
    add(
      'NotifyDeadLetterQueueNotEmpty',
      props.notifyDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period,
        statistic: 'Maximum',
      }),
      0,
      'Notifications reached the notify dead-letter queue (a Service unreachable for their 24 h ' +
        'window): GET /notifications?status=failed lists them, POST /notifications/{id}/redeliver ' +
        'sends one again.',
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

    // The relay and the sweep run only from their schedules (asynchronously, never retried): a
    // failed run, or one that could not start within a minute, is dropped and counted here; the
    // function's Errors alarm cannot tell it from a failed send or a failed sweep action.
    const scheduled = (
      prefix: string,
      run: { function: IFunction; rule: IRule },
      dropped: string,
      notInvoked: string,
    ) => {
      add(
        `${prefix}Failed`,
        run.function.metric('AsyncEventsDropped', { period, statistic: 'Sum' }),
        0,
        dropped,
      );
      add(
        `${prefix}NotInvoked`,
        new Metric({
          namespace: 'AWS/Events',
          metricName: 'FailedInvocations',
          dimensionsMap: { RuleName: run.rule.ruleName },
          period,
          statistic: 'Sum',
        }),
        0,
        notInvoked,
      );
    };
    scheduled(
      'NotifyRelay',
      props.relay,
      'An outbox relay run failed or did not start: notifications left pending by a crashed ' +
        'writer wait for the next run that succeeds.',
      'The outbox relay schedule could not invoke the notifier.',
    );
    scheduled(
      'Sweep',
      props.sweep,
      'A sweep run failed or did not start: leases and offers that are due wait for the next run ' +
        'that succeeds.',
      'The sweep schedule could not invoke the sweep function.',
    );

    // A custom metric is published under `service` and whatever dimensions its code adds
    // (HandoverFailed by source): an alarm on one exact dimension set would never see the others,
    // so each alarm is a Metrics Insights query over every dimension set of the namespace.
    const custom = (metricName: string, statistic: 'SUM' | 'MAX') =>
      new MathExpression({
        expression:
          `SELECT ${statistic}(${metricName}) FROM "${METRICS_NAMESPACE}" ` +
          `WHERE service = '${METRICS_SERVICE}'`,
        usingMetrics: {},
        label: metricName,
        period,
      });
    add(
      'HandoverFailed',
      custom(CUSTOM_METRICS.handoverFailed, 'SUM'),
      0,
      'A handover failed (Parley rejected it or the outcome was settled as failed).',
    );
    add(
      'PendingHandoverStale',
      custom(CUSTOM_METRICS.oldestPendingAge, 'MAX'),
      props.staleAfterSeconds,
      `A pending handover is older than staleAfter (${props.staleAfterSeconds} s): see the README runbook "stuck pending".`,
    );
    const atFirst = ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD;
    add(
      'FailoverTargetUnavailable',
      custom(CUSTOM_METRICS.failoverTargetUnavailable, 'SUM'),
      1,
      'A desk failed and no Service could take its user (loop guard): the owner stays and the ' +
        'message goes to the callback dead-letter queue.',
      atFirst,
    );
    add(
      'DownstreamMisconfigured',
      custom(CUSTOM_METRICS.downstreamMisconfigured, 'SUM'),
      1,
      "A Service's downstream answered 401, 403 or 404: its URL or credentials are wrong.",
      atFirst,
    );
    add(
      'CircuitOpened',
      custom(CUSTOM_METRICS.circuitOpened, 'SUM'),
      1,
      "Informational: a Service's circuit opened; its users' messages fail over at once until " +
        'a probe succeeds.',
      atFirst,
    );
    // The sweep reports how long the oldest timer it found had been due: past a few minutes it is
    // failing, too slow for what is due (runs truncated by their budget), or not running at all
    // (then SweepFailed or SweepNotInvoked).
    add(
      'SweepLagging',
      custom(CUSTOM_METRICS.sweepLag, 'MAX'),
      SWEEP_LAG_ALARM_SECONDS,
      `A lease or offer has been due for more than ${SWEEP_LAG_ALARM_SECONDS} s when the sweep ` +
        'ran: users wait past their timers (see the sweep log line: failed, truncated).',
    );
    // The metrics' stuck-owner count (every 5 minutes): a user wrote last and has waited on a
    // non-default owner longer than stuckAfterMinutes (docs/METRICS.md).
    add(
      'StuckOwners',
      custom(CUSTOM_METRICS.stuckOwners, 'MAX'),
      0,
      'Users have waited on their owner past stuckAfterMinutes: GET /metrics/stuck lists them.',
    );
  }
}
