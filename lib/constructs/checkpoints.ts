// The signed checkpoints' key and bucket (DESIGN.md "Signed checkpoints"), in the stateful stack.
//
// - The key: KMS, asymmetric, ECC_NIST_P256 for SIGN_VERIFY, retained. Its key policy gives the
//   account's administrators the key's management and GetPublicKey, and kms:Sign to no one but a
//   principal tagged as this stage's checkpoint signer: the API stack tags the checkpoint function's
//   role and grants it kms:Sign (the key policy cannot name that role: the API stack depends on
//   this one). Nothing else in the account can sign, whatever its IAM policies say.
// - The bucket: Object Lock in compliance mode (the stage's `checkpoints.retentionDays`: no one,
//   the account's root included, deletes or shortens a version before then), versioned, TLS only,
//   no public access, retained; its policy denies every principal deletes (a delete marker would
//   hide a checkpoint from listings), retention changes and lifecycle rules.
// - The key's public half reaches the data stack's outputs through CheckpointPublicKey (a custom
//   resource that reads it once the key exists); the key policy's Get* for the account lets that
//   reader's IAM policy grant kms:GetPublicKey.
import { Duration, RemovalPolicy, Stack, Tags } from 'aws-cdk-lib';
import {
  AccountRootPrincipal,
  AnyPrincipal,
  type CfnPolicy,
  Effect,
  Policy,
  PolicyDocument,
  PolicyStatement,
} from 'aws-cdk-lib/aws-iam';
import { Key, KeySpec, KeyUsage } from 'aws-cdk-lib/aws-kms';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  ObjectLockRetention,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CHECKPOINT_PREFIX, USER_NOTE_PREFIX } from '../../functions/contracts/checkpoints';
import { ENV } from '../../functions/schemas/config';
import { acknowledge } from './nag';
import type { ServiceFunction } from './service-function';

/** The role tag that the key policy requires of whoever signs. */
export const SIGNER_TAG = 'parley-handover:checkpoint-signer';

/** Key actions for the account's administrators: all but using the key to sign or verify. */
export const KEY_ADMIN_ACTIONS = [
  'kms:Create*',
  'kms:Describe*',
  'kms:Enable*',
  'kms:List*',
  'kms:Put*',
  'kms:Update*',
  'kms:Revoke*',
  'kms:Disable*',
  'kms:Get*',
  'kms:Delete*',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
];

/** Denied to every principal on the bucket: what could remove, hide or unlock a checkpoint. */
export const BUCKET_DENIED_ACTIONS = [
  's3:DeleteObject',
  's3:DeleteObjectVersion',
  's3:DeleteObjectTagging',
  's3:DeleteObjectVersionTagging',
  's3:PutObjectRetention',
  's3:PutObjectLegalHold',
  's3:BypassGovernanceRetention',
  's3:PutLifecycleConfiguration',
  's3:PutBucketObjectLockConfiguration',
];

interface CfnReference {
  'Fn::Join'?: [string, unknown[]];
  'Fn::Sub'?: unknown;
  'Fn::GetAtt'?: [unknown, unknown];
  'Fn::ImportValue'?: unknown;
  Ref?: unknown;
}

/** A resource reference as cdk-nag writes it in a finding's id. */
const flatten = (node: unknown): string => {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/}/g, '>');
  const ref = node as CfnReference;
  if (ref['Fn::Join']) return ref['Fn::Join'][1].map(flatten).join(ref['Fn::Join'][0]);
  if (ref['Fn::Sub']) return flatten(ref['Fn::Sub']);
  if (ref['Fn::GetAtt']) {
    return `<${flatten(ref['Fn::GetAtt'][0])}.${flatten(ref['Fn::GetAtt'][1])}>`;
  }
  if (ref['Fn::ImportValue']) return flatten(ref['Fn::ImportValue']);
  if (ref.Ref) return `<${flatten(ref.Ref)}>`;
  return JSON.stringify(node);
};

export interface CheckpointsProps {
  /** The stage: the signer tag's value. */
  stage: string;
  /** Object Lock retention of every checkpoint, in days (compliance mode). */
  retentionDays: number;
}

/** What a function may do with the checkpoints: make them, or read and verify them. */
export type CheckpointAccess = 'sign' | 'read';

export class Checkpoints extends Construct {
  public readonly key: Key;
  public readonly bucket: Bucket;
  private readonly stage: string;

  constructor(scope: Construct, id: string, props: CheckpointsProps) {
    super(scope, id);
    this.stage = props.stage;
    const root = new AccountRootPrincipal();
    this.key = new Key(this, 'Key', {
      description: `parley-handover ${props.stage}: signs the audit checkpoints`,
      keySpec: KeySpec.ECC_NIST_P256,
      keyUsage: KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN,
      policy: new PolicyDocument({
        statements: [
          new PolicyStatement({
            sid: 'Administration',
            principals: [root],
            actions: KEY_ADMIN_ACTIONS,
            resources: ['*'],
          }),
          new PolicyStatement({
            sid: 'SignOnlyAsTheCheckpointSigner',
            principals: [root],
            actions: ['kms:Sign'],
            resources: ['*'],
            conditions: { StringEquals: { [`aws:PrincipalTag/${SIGNER_TAG}`]: props.stage } },
          }),
        ],
      }),
    });

    this.bucket = new Bucket(this, 'Bucket', {
      objectLockEnabled: true,
      objectLockDefaultRetention: ObjectLockRetention.compliance(
        Duration.days(props.retentionDays),
      ),
      versioned: true,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'NothingIsEverRemoved',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: BUCKET_DENIED_ACTIONS,
        resources: [this.bucket.bucketArn, this.bucket.arnForObjects('*')],
      }),
    );
    acknowledge(this.bucket, {
      id: 'AwsSolutions-S1',
      reason:
        'Every object is written once under Object Lock (compliance mode) and never deleted; its ' +
        'reads prove nothing the signatures do not, so server access logs would add a second ' +
        'bucket without adding evidence.',
    });
  }

  /**
   * The bucket's name and the key's id in the function's environment, and exactly the calls its
   * access needs: `sign` (the checkpoint function) writes objects, signs and is tagged as the
   * signer; `read` (verify) lists, reads and gets the public key.
   */
  grantTo(fn: ServiceFunction, access: CheckpointAccess): void {
    fn.function.addEnvironment(ENV.checkpointBucket, this.bucket.bucketName);
    fn.function.addEnvironment(ENV.checkpointKeyId, this.key.keyArn);
    const checkpointObjects = this.bucket.arnForObjects(`${CHECKPOINT_PREFIX}*`);
    const noteObjects = this.bucket.arnForObjects(`${USER_NOTE_PREFIX}*`);
    const grant = (actions: string[], resources: string[]) =>
      fn.role.addToPrincipalPolicy(new PolicyStatement({ actions, resources }));
    grant(['s3:ListBucket'], [this.bucket.bucketArn]);
    grant(access === 'sign' ? ['kms:GetPublicKey', 'kms:Sign'] : ['kms:GetPublicKey'], [
      this.key.keyArn,
    ]);
    // The objects under the two prefixes, in a policy of their own: its only finding is the
    // prefix wildcard, acknowledged there (the bucket's ARN is another stack's, so the finding's
    // text differs between the construct tree and the synthesized template). Notes are listed,
    // never read.
    const objectPolicy = new Policy(fn, 'CheckpointObjects', {
      statements: [
        new PolicyStatement({
          actions: access === 'sign' ? ['s3:GetObject', 's3:PutObject'] : ['s3:GetObject'],
          resources: [checkpointObjects],
        }),
        ...(access === 'sign'
          ? [new PolicyStatement({ actions: ['s3:PutObject'], resources: [noteObjects] })]
          : []),
      ],
    });
    objectPolicy.attachToRole(fn.role);
    const acknowledgeObjects = () => {
      const document = Stack.of(objectPolicy).resolve(
        (objectPolicy.node.defaultChild as CfnPolicy).policyDocument,
      );
      for (const statement of document.Statement) {
        for (const resource of [statement.Resource].flat()) {
          acknowledge(objectPolicy, {
            id: `AwsSolutions-IAM5[Resource::${flatten(resource)}]`,
            reason:
              'Checkpoints and user notes are objects named by their place in the chain and by ' +
              "the user's hash, under two prefixes: the narrowest resources that hold them.",
          });
        }
      }
      return [];
    };
    // The bucket is another stack's: the reference reads one way in the construct tree and
    // another once synthesis resolved it, so the finding is acknowledged in both forms.
    acknowledgeObjects();
    objectPolicy.node.addValidation({ validate: acknowledgeObjects });
    if (access === 'sign') Tags.of(fn.role).add(SIGNER_TAG, this.stage);
  }
}
