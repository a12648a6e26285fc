// Erasure's resources beside the eraser function (its table grants are FUNCTION_NEEDS'): the
// erasure key, a secret of its own that only the eraser may read (it names erased subjects:
// subjectRef = HMAC(key, userId)), and the eraser's two schedules: every minute the open
// erasures, once a day retention.
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ENV } from '../../functions/schemas/config';
import { acknowledge } from './nag';
import { SECRET_ACTIONS, type ServiceFunction } from './service-function';

export interface ErasureProps {
  /** The eraser: the key's only reader and both schedules' target. */
  eraser: ServiceFunction;
  /**
   * When the daily retention run starts (UTC).
   * @default 03:15
   */
  retentionAt?: { hour: number; minute: number };
}

export class Erasure extends Construct {
  /** `{ "erasureKey": "…" }`, generated at the first deploy and kept (never rotated). */
  public readonly key: Secret;
  /** Every minute: the open erasures. */
  public readonly workSchedule: Rule;
  /** Once a day: retention.metadataDays. */
  public readonly retentionSchedule: Rule;

  constructor(scope: Construct, id: string, props: ErasureProps) {
    super(scope, id);
    const fn = props.eraser;

    // Retained with the stack gone: every tombstone's subjectRef was made with it.
    this.key = new Secret(this, 'Key', {
      description: 'parley-handover erasure key (HMAC of erased user ids); the eraser reads it',
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: 'erasureKey',
        passwordLength: 64,
        excludePunctuation: true,
      },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(this.key, {
      id: 'AwsSolutions-SMG4',
      reason:
        'The erasure key names erased subjects in tombstones (an HMAC of the user id): a new key ' +
        'would orphan every earlier subjectRef, so it is never rotated.',
    });
    fn.function.addEnvironment(ENV.erasureKeySecretArn, this.key.secretArn);
    fn.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: [...SECRET_ACTIONS], resources: [this.key.secretArn] }),
    );

    // The work list is leased per run, so an overlap is harmless; a failed run is not retried:
    // the next minute's run resumes from the register.
    this.workSchedule = new Rule(this, 'WorkSchedule', {
      description: 'The eraser: open erasures',
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaFunction(fn.function, { retryAttempts: 0 })],
    });
    const at = props.retentionAt ?? { hour: 3, minute: 15 };
    this.retentionSchedule = new Rule(this, 'RetentionSchedule', {
      description: 'The eraser: metadata older than retention.metadataDays',
      schedule: Schedule.cron({ hour: String(at.hour), minute: String(at.minute) }),
      targets: [
        new LambdaFunction(fn.function, {
          retryAttempts: 2,
          event: RuleTargetInput.fromObject({ source: 'aws.events', task: 'retention' }),
        }),
      ],
    });
  }
}
