// The signed checkpoints in the templates: the KMS key (ECC_NIST_P256, SIGN_VERIFY, retained) that
// only the checkpoint function can sign with (key policy and grant), the bucket (Object Lock in
// compliance mode for the stage's retention, versioned, TLS only, no public access, retained, its
// policy denying every principal deletes), no role that may delete or unlock a checkpoint, the
// schedule from the stage's interval, and the outputs. Findings of cdk-nag: test/lib/nag.test.ts.
import type { Template } from 'aws-cdk-lib/assertions';
import { BUCKET_DENIED_ACTIONS, SIGNER_TAG } from '../../lib/constructs/checkpoints';
import { buildApp, devStage, functionIdOf, templatesOf } from './support';

let data: Template;
let api: Template;
type Resource = { Properties: any; DeletionPolicy?: string; UpdateReplacePolicy?: string };
const only = (t: Template, type: string): [string, Resource] => {
  const found = Object.entries(t.findResources(type)) as [string, Resource][];
  expect(found).toHaveLength(1);
  return found[0]!;
};
const statementsOf = (t: Template) =>
  (Object.values(t.findResources('AWS::IAM::Policy')) as Resource[]).flatMap((p) =>
    p.Properties.PolicyDocument.Statement.map((st: any) => ({ roles: p.Properties.Roles, st })),
  );
const actionsOf = (st: any): string[] => [st.Action].flat();

beforeAll(() => {
  ({ data, api } = templatesOf(buildApp()));
});

describe('the checkpoint key', () => {
  it('is an asymmetric P-256 signing key, retained', () => {
    const [, key] = only(data, 'AWS::KMS::Key');
    expect(key.Properties).toMatchObject({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' });
    expect([key.DeletionPolicy, key.UpdateReplacePolicy]).toEqual(['Retain', 'Retain']);
  });

  it('lets no one sign but a principal tagged as the stage signer: not the account, not an administrator', () => {
    const [, key] = only(data, 'AWS::KMS::Key');
    const statements: any[] = key.Properties.KeyPolicy.Statement;
    const signing = statements.filter((st) =>
      actionsOf(st).some((a) => a === 'kms:Sign' || a === 'kms:*' || a === 'kms:Sign*'),
    );
    expect(signing).toHaveLength(1);
    expect(signing[0]).toMatchObject({
      Effect: 'Allow',
      Condition: { StringEquals: { [`aws:PrincipalTag/${SIGNER_TAG}`]: 'dev' } },
    });
    expect(statements.flatMap(actionsOf)).not.toContain('kms:*');
  });

  it('is granted kms:Sign to the checkpoint function alone, whose role alone carries the signer tag', () => {
    const signers = statementsOf(api).filter(({ st }) => actionsOf(st).includes('kms:Sign'));
    const checkpointRole =
      api.toJSON().Resources[functionIdOf(api, 'Checkpoint')].Properties.Role['Fn::GetAtt'][0];
    expect(signers.map(({ roles }) => roles)).toEqual([[{ Ref: checkpointRole }]]);
    const tagged = Object.entries(api.findResources('AWS::IAM::Role'))
      .filter(([, r]: [string, any]) =>
        (r.Properties.Tags ?? []).some((t: any) => t.Key === SIGNER_TAG),
      )
      .map(([id]) => id);
    expect(tagged).toEqual([checkpointRole]);
    // Verify reads the public key, and so do the console (a user's page shows verify's checkpoint
    // state), the eraser (a tombstone notes the user's newest checkpoint) and the erasure function
    // (an erased chain verified against it); nothing else.
    const keyUsers = statementsOf(api)
      .filter(({ st }) => actionsOf(st).some((a) => a.startsWith('kms:')))
      .map(
        ({ roles, st }) =>
          `${roles[0].Ref.replace(/Role[0-9A-F]{8}$/, '')} ${actionsOf(st).join(',')}`,
      )
      .sort();
    expect(keyUsers).toEqual([
      'Checkpoint kms:GetPublicKey,kms:Sign',
      'Console kms:GetPublicKey',
      'Eraser kms:GetPublicKey',
      'Erasure kms:GetPublicKey',
      'Verify kms:GetPublicKey',
    ]);
  });
});

describe('the checkpoint bucket', () => {
  it('locks every object in compliance mode for the retention of the stage, versioned, retained', () => {
    const [, bucket] = only(data, 'AWS::S3::Bucket');
    expect(bucket.Properties).toMatchObject({
      ObjectLockEnabled: true,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 400 } },
      },
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    });
    expect([bucket.DeletionPolicy, bucket.UpdateReplacePolicy]).toEqual(['Retain', 'Retain']);
    const stage = devStage((raw) => {
      raw.checkpoints = { retentionDays: 2555 };
    });
    const [, other] = only(templatesOf(buildApp(stage)).data, 'AWS::S3::Bucket');
    expect(other.Properties.ObjectLockConfiguration.Rule.DefaultRetention.Days).toBe(2555);
  });

  it('refuses plain HTTP, and deletes, retention changes and lifecycle rules to every principal', () => {
    const [, policy] = only(data, 'AWS::S3::BucketPolicy');
    const statements: any[] = policy.Properties.PolicyDocument.Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Action: 's3:*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
    const denied = statements.find((st) => st.Sid === 'NothingIsEverRemoved');
    expect(denied).toMatchObject({ Effect: 'Deny', Principal: { AWS: '*' } });
    expect([...actionsOf(denied)].sort()).toEqual([...BUCKET_DENIED_ACTIONS].sort());
    expect(statements.filter((st) => st.Effect === 'Allow')).toEqual([]);
  });

  it('gives no role a delete, a retention change or a bypass, and only the checkpoint function a put', () => {
    const dangerous =
      /^s3:(Delete|PutObjectRetention|PutObjectLegalHold|BypassGovernance|PutLifecycle|PutBucket|\*)/;
    const s3 = statementsOf(api).filter(({ st }) => actionsOf(st).some((a) => a.startsWith('s3:')));
    for (const { st } of s3) for (const a of actionsOf(st)) expect(a).not.toMatch(dangerous);
    const writers = s3
      .filter(({ st }) => actionsOf(st).includes('s3:PutObject'))
      .map(({ roles }) => roles[0].Ref.replace(/[0-9A-F]{8}$/, ''));
    expect([...new Set(writers)]).toEqual(['CheckpointRole']);
    for (const { st } of statementsOf(data)) {
      for (const a of actionsOf(st)) expect(a).not.toMatch(/^s3:/);
    }
  });

  it('names the bucket and key on the checkpoint, verify and console functions, and the erasure readers, only', () => {
    const fns = api.findResources('AWS::Lambda::Function') as Record<string, Resource>;
    const withBucket = Object.entries(fns)
      .filter(([, f]) => f.Properties.Environment?.Variables?.CHECKPOINT_BUCKET_NAME !== undefined)
      .map(([id]) => id.replace(/Function[0-9A-F]{8}$/, ''))
      .sort();
    expect(withBucket).toEqual(['Checkpoint', 'Console', 'Eraser', 'Erasure', 'Verify']);
    for (const name of ['Checkpoint', 'Console', 'Eraser', 'Erasure', 'Verify']) {
      const vars = fns[functionIdOf(api, name)]!.Properties.Environment.Variables;
      expect(JSON.stringify(vars.CHECKPOINT_BUCKET_NAME)).toContain('CheckpointsBucket');
      expect(JSON.stringify(vars.CHECKPOINT_KEY_ID)).toContain('CheckpointsKey');
    }
  });
});

describe('the schedule and the outputs', () => {
  it('runs the checkpoint function every intervalMinutes of the stage (15 by default), not retried', () => {
    const rules = Object.values(api.findResources('AWS::Events::Rule')) as Resource[];
    const rule = rules.find((r) =>
      JSON.stringify(r.Properties.Targets).includes(functionIdOf(api, 'Checkpoint')),
    )!;
    expect(rule.Properties.ScheduleExpression).toBe('rate(15 minutes)');
    expect(rule.Properties.Targets[0].RetryPolicy).toEqual({ MaximumRetryAttempts: 0 });
    const stage = devStage((raw) => {
      raw.checkpoints = { intervalMinutes: 60 };
    });
    const other = templatesOf(buildApp(stage)).api;
    expect(JSON.stringify(other.findResources('AWS::Events::Rule'))).toContain('rate(1 hour)');
  });

  it('outputs the bucket name and the key ARN for auditors and operators', () => {
    const outputs = data.toJSON().Outputs;
    expect(JSON.stringify(outputs.CheckpointBucketName.Value)).toContain('CheckpointsBucket');
    expect(JSON.stringify(outputs.CheckpointKeyArn.Value)).toContain('CheckpointsKey');
  });
});

describe('the public key output', () => {
  const resources = () => data.toJSON().Resources as Record<string, Resource & { Type: string }>;
  const keyArn = () => ({ 'Fn::GetAtt': [only(data, 'AWS::KMS::Key')[0], 'Arn'] });
  /** The statements of the policies attached to a role, as `action resource` strings. */
  const grantsOfRole = (roleId: string) =>
    statementsOf(data)
      .filter(({ roles }) => JSON.stringify(roles) === JSON.stringify([{ Ref: roleId }]))
      .flatMap(({ st }) => {
        expect(st.Effect).toBe('Allow');
        return actionsOf(st).flatMap((a) =>
          [st.Resource].flat().map((r: unknown) => `${a} ${JSON.stringify(r)}`),
        );
      })
      .sort();
  const roleOf = (fnId: string) => resources()[fnId]!.Properties.Role['Fn::GetAtt'][0] as string;
  const logsOf = (fnId: string) =>
    resources()[fnId]!.Properties.LoggingConfig.LogGroup.Ref as string;
  const publicKeyResource = () => {
    const found = Object.entries(resources()).filter(
      ([, r]) => r.Type === 'Custom::CheckpointPublicKey',
    );
    expect(found).toHaveLength(1);
    return found[0]!;
  };
  const frameworkId = () => {
    const [, resource] = publicKeyResource();
    return resource.Properties.ServiceToken['Fn::GetAtt'][0] as string;
  };

  it('reads the key once it exists, through a custom resource of the Provider framework', () => {
    const [, resource] = publicKeyResource();
    expect(resource.Properties.KeyId).toEqual(keyArn());
    const framework = resources()[frameworkId()]!;
    expect(framework.Type).toBe('AWS::Lambda::Function');
    expect(framework.Properties.Handler).toBe('framework.onEvent');
    const onEvent = functionIdOf(data, 'CheckpointPublicKey');
    expect(framework.Properties.Environment.Variables.USER_ON_EVENT_FUNCTION_ARN).toEqual({
      'Fn::GetAtt': [onEvent, 'Arn'],
    });
  });

  it('outputs the key as one line of base64 DER from the resource, and no PEM', () => {
    const [id] = publicKeyResource();
    const outputs = data.toJSON().Outputs;
    expect(outputs.CheckpointPublicKeyDer.Value).toEqual({ 'Fn::GetAtt': [id, 'PublicKeyDer'] });
    expect(Object.keys(outputs).filter((k) => /Pem/i.test(k))).toEqual([]);
  });

  it('lets its function do exactly kms:GetPublicKey on the checkpoint key, and write its own logs', () => {
    const onEvent = functionIdOf(data, 'CheckpointPublicKey');
    const logs = JSON.stringify({ 'Fn::GetAtt': [logsOf(onEvent), 'Arn'] });
    expect(grantsOfRole(roleOf(onEvent))).toEqual([
      `kms:GetPublicKey ${JSON.stringify(keyArn())}`,
      `logs:CreateLogStream ${logs}`,
      `logs:PutLogEvents ${logs}`,
    ]);
  });

  it("lets the framework's function only invoke that function and write its own logs", () => {
    const onEvent = functionIdOf(data, 'CheckpointPublicKey');
    const fn = JSON.stringify({ 'Fn::GetAtt': [onEvent, 'Arn'] });
    const logs = JSON.stringify({ 'Fn::GetAtt': [logsOf(frameworkId()), 'Arn'] });
    expect(grantsOfRole(roleOf(frameworkId()))).toEqual(
      [
        `lambda:GetFunction ${fn}`,
        `lambda:InvokeFunction ${fn}`,
        `lambda:InvokeFunction ${JSON.stringify({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [onEvent, 'Arn'] }, ':*']] })}`,
        `logs:CreateLogStream ${logs}`,
        `logs:PutLogEvents ${logs}`,
      ].sort(),
    );
  });

  it('gives the data stack no role with a managed policy, and only these two roles', () => {
    const roles = Object.entries(data.findResources('AWS::IAM::Role')) as [string, Resource][];
    expect(roles.map(([id]) => id).sort()).toEqual(
      [roleOf(functionIdOf(data, 'CheckpointPublicKey')), roleOf(frameworkId())].sort(),
    );
    for (const [, role] of roles) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it("keeps both functions' logs for the stage's retention", () => {
    const onEvent = functionIdOf(data, 'CheckpointPublicKey');
    for (const fnId of [onEvent, frameworkId()]) {
      const group = resources()[logsOf(fnId)]!;
      expect(group.Properties.RetentionInDays).toBe(devStage().infra.logRetentionDays);
    }
  });
});
