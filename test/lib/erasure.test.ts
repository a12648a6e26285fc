// The erasure's resources in the API stack's template: the eraser is the only role that may update
// or delete a history item, the subject key (the erasure key secret) is its own secret, read by
// exactly the functions that name users by it (the checkpoint job, verify, the console, the eraser)
// and kept when the stack goes, and the eraser runs every minute and once a day for retention.
import type { Template } from 'aws-cdk-lib/assertions';
import { type FunctionName, functionSpecs } from '../../functions/contracts/routes';
import { ENV } from '../../functions/schemas/config';
import { buildApp, functionIdOf, grantsOf, kindOf, templatesOf } from './support';

let api: Template;
const cap = (n: string) => n[0]!.toUpperCase() + n.slice(1);
const resources = (type: string) =>
  Object.entries(api.findResources(type)) as [string, { Properties: any; [k: string]: any }][];

beforeAll(() => {
  ({ api } = templatesOf(buildApp()));
});

/** Every `kind action` pair granted to any role, with the roles' logical ids. */
const everyGrant = () => {
  const out: { role: string; grant: string }[] = [];
  for (const [, policy] of resources('AWS::IAM::Policy')) {
    for (const role of policy.Properties.Roles as { Ref: string }[]) {
      for (const st of policy.Properties.PolicyDocument.Statement) {
        for (const r of [st.Resource].flat()) {
          for (const a of [st.Action].flat())
            out.push({ role: role.Ref, grant: `${kindOf(r)} ${a}` });
        }
      }
    }
  }
  return out;
};

/** The functions that name users by subjectRef: heads and notes, the tombstone's subject. */
const SUBJECT_KEY_READERS: FunctionName[] = ['checkpoint', 'console', 'eraser', 'verify'];

const roleOf = (name: FunctionName): string => {
  const fns = api.findResources('AWS::Lambda::Function');
  return fns[functionIdOf(api, cap(name))]!.Properties.Role['Fn::GetAtt'][0];
};

describe('the eraser', () => {
  it('is the only role with UpdateItem or DeleteItem on the history table', () => {
    const writers = everyGrant()
      .filter(({ grant }) =>
        /^history dynamodb:(UpdateItem|DeleteItem|BatchWriteItem)$/.test(grant),
      )
      .map(({ role, grant }) => ({ role, grant }));

    expect(writers).toEqual(
      expect.arrayContaining([
        { role: roleOf('eraser'), grant: 'history dynamodb:UpdateItem' },
        { role: roleOf('eraser'), grant: 'history dynamodb:DeleteItem' },
      ]),
    );
    expect(new Set(writers.map((w) => w.role))).toEqual(new Set([roleOf('eraser')]));
    expect(writers.map((w) => w.grant).sort()).toEqual([
      'history dynamodb:DeleteItem',
      'history dynamodb:UpdateItem',
    ]);
  });

  it('shares the subject key with exactly the checkpoint job, verify and the console; the erasure function never reads it', () => {
    const readers = everyGrant().filter(({ grant }) => grant.startsWith('erasure-key '));
    const byRole = new Map(
      (Object.keys(functionSpecs) as FunctionName[]).map((name) => [roleOf(name), name]),
    );

    expect(readers.map(({ role, grant }) => `${byRole.get(role)}: ${grant}`).sort()).toEqual(
      SUBJECT_KEY_READERS.map((name) => `${name}: erasure-key secretsmanager:GetSecretValue`),
    );
    expect(grantsOf(api, 'Erasure').filter((g) => g.startsWith('erasure-key'))).toEqual([]);
  });

  it('gets the key by ARN in ERASURE_KEY_SECRET_ARN; no other function is told it', () => {
    for (const name of Object.keys(functionSpecs) as FunctionName[]) {
      const env =
        api.findResources('AWS::Lambda::Function')[functionIdOf(api, cap(name))]!.Properties
          .Environment.Variables;
      expect({ name, has: ENV.erasureKeySecretArn in env }).toEqual({
        name,
        has: SUBJECT_KEY_READERS.includes(name),
      });
    }
  });

  it('keeps a generated key of its own when the stack is deleted', () => {
    const keys = resources('AWS::SecretsManager::Secret').filter(([id]) =>
      id.startsWith('ErasuresKey'),
    );

    expect(keys).toHaveLength(1);
    const [, key] = keys[0]!;
    expect(key.DeletionPolicy).toBe('Retain');
    expect(key.UpdateReplacePolicy).toBe('Retain');
    expect(key.Properties.GenerateSecretString).toMatchObject({
      SecretStringTemplate: '{}',
      GenerateStringKey: 'erasureKey',
      PasswordLength: 64,
      ExcludePunctuation: true,
    });
  });

  it('runs every minute for open erasures and once a day for retention, both on the eraser', () => {
    const eraserArn = { 'Fn::GetAtt': [functionIdOf(api, 'Eraser'), 'Arn'] };
    const rules = resources('AWS::Events::Rule')
      .map(([, r]) => r.Properties)
      .filter((r) => JSON.stringify(r.Targets).includes(JSON.stringify(eraserArn)));

    expect(rules.map((r) => r.ScheduleExpression).sort()).toEqual([
      'cron(15 3 * * ? *)',
      'rate(1 minute)',
    ]);
    const daily = rules.find((r) => r.ScheduleExpression.startsWith('cron'))!;
    expect(JSON.parse(daily.Targets[0].Input)).toEqual({ source: 'aws.events', task: 'retention' });
    const minute = rules.find((r) => r.ScheduleExpression.startsWith('rate'))!;
    expect(minute.Targets[0].Input).toBeUndefined();
    expect(minute.Targets[0].RetryPolicy).toEqual({ MaximumRetryAttempts: 0 });
  });

  it('has a timeout that leaves its run a budget under it (the work list lease)', () => {
    const fn = api.findResources('AWS::Lambda::Function')[functionIdOf(api, 'Eraser')]!;

    expect(fn.Properties.Timeout).toBe(functionSpecs.eraser.timeoutSeconds);
    expect(functionSpecs.eraser.timeoutSeconds).toBeGreaterThan(60);
  });
});
