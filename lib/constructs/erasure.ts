// Erasure's resources beside the eraser function (its table grants are FUNCTION_NEEDS'): the
// subject key (the erasure key secret), which names users where their id must not appear:
// subjectRef = HMAC(key, userId) in tombstones and in the signed checkpoints' heads and notes, read
// by exactly the functions FUNCTION_NEEDS gives `subjectKey` (grantKeyRead); and the eraser's two
// schedules: every minute the open erasures, once a day retention.
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
  /** The eraser: both schedules' target. */
  eraser: ServiceFunction;
  /**
   * When the daily retention run starts (UTC).
   * @default 03:15
   */
  retentionAt?: { hour: number; minute: number };
}

export class Erasure extends Construct {
  /**
   * The subject key, `{ "erasureKey": "…" }`, generated at the first deploy and kept (never
   * rotated).
   */
  public readonly key: Secret;
  /** Every minute: the open erasures. */
  public readonly workSchedule: Rule;
  /** Once a day: retention.metadataDays. */
  public readonly retentionSchedule: Rule;

  constructor(scope: Construct, id: string, props: ErasureProps) {
    super(scope, id);
    const fn = props.eraser;

    // Retained with the stack gone: every tombstone's and checkpoint head's subjectRef was made
    // with it.
    this.key = new Secret(this, 'Key', {
      description: 'parley-handover subject key (HMAC of user ids in checkpoints and tombstones)',
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
        'The subject key names users in tombstones and signed checkpoints (an HMAC of the user ' +
        'id): a new key would orphan every earlier subjectRef, so it is never rotated.',
    });

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

  /** The key's name in the function's environment and a grant to read it (nothing else). */
  grantKeyRead(fn: ServiceFunction): void {
    fn.function.addEnvironment(ENV.erasureKeySecretArn, this.key.secretArn);
    fn.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: [...SECRET_ACTIONS], resources: [this.key.secretArn] }),
    );
  }
}
