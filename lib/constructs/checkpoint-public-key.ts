// The checkpoint key's public half as a stack output (DESIGN.md "Signed checkpoints"): the key is
// made at deploy time, so a custom resource reads it after it exists. CDK's Provider framework
// answers CloudFormation (the pre-signed response URL with retries, the Delete that follows a
// failed Create); our onEvent function (functions/handlers/checkpoint-public-key.ts) only calls
// kms:GetPublicKey. Not AwsCustomResource: it flattens the SDK's answer and garbles the binary
// PublicKey. Both functions get roles of their own that start empty (no managed policy): ours may
// read the public key and write its logs; the framework's may invoke ours and write its logs.
import * as path from 'node:path';
import { CustomResource, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import type { FunctionSpec } from '../../functions/contracts/routes';
import { acknowledge } from './nag';
import { bundledFunctionProps, HANDLERS_DIR } from './service-function';

/** The onEvent function: deploy time only, one KMS call. Not an API function (functionSpecs). */
export const PUBLIC_KEY_FUNCTION: FunctionSpec = {
  entry: 'checkpoint-public-key.ts',
  description: "Deploy time: the checkpoint key's public half for the data stack's outputs",
  memoryMb: 256,
  timeoutSeconds: 30,
};

/** The custom resource's type in the template. */
export const PUBLIC_KEY_RESOURCE_TYPE = 'Custom::CheckpointPublicKey';

export interface CheckpointPublicKeyProps {
  /** The checkpoint key: asymmetric, SIGN_VERIFY. */
  key: IKey;
  /** Retention of both functions' log groups. */
  logRetention: RetentionDays;
  /**
   * Folder holding the entry file (tests point this at stubs).
   * @default HANDLERS_DIR
   */
  handlersDir?: string;
}

export class CheckpointPublicKey extends Construct {
  /** Ours: reads the key. */
  public readonly function: NodejsFunction;
  public readonly provider: Provider;
  public readonly resource: CustomResource;
  /** The key's SPKI as base64 DER on one line (resolved at deploy time). */
  public readonly publicKeyDer: string;

  constructor(scope: Construct, id: string, props: CheckpointPublicKeyProps) {
    super(scope, id);
    const logsFor = (logId: string) =>
      new LogGroup(this, logId, {
        retention: props.logRetention,
        // Deploy-time logs; the key itself is retained.
        removalPolicy: RemovalPolicy.DESTROY,
      });
    const roleFor = (roleId: string, logs: LogGroup, description: string) => {
      const role = new Role(this, roleId, {
        assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
        description,
      });
      role.addToPrincipalPolicy(
        new PolicyStatement({
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [logs.logGroupArn],
        }),
      );
      return role;
    };

    const logs = logsFor('Logs');
    const role = roleFor('Role', logs, 'parley-handover: reads the checkpoint public key');
    role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['kms:GetPublicKey'], resources: [props.key.keyArn] }),
    );
    this.function = new NodejsFunction(this, 'Function', {
      ...bundledFunctionProps(
        path.join(props.handlersDir ?? HANDLERS_DIR, PUBLIC_KEY_FUNCTION.entry),
        PUBLIC_KEY_FUNCTION,
      ),
      role,
      logGroup: logs,
      environment: { NODE_OPTIONS: '--enable-source-maps' },
    });
    acknowledge(this.function, {
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is the runtime every function of ours, its tests and the local runtime target; ' +
        'moving to a newer runtime is a deliberate, tested change rather than a synth-time default.',
    });

    const frameworkLogs = logsFor('ProviderLogs');
    const frameworkRole = roleFor(
      'ProviderRole',
      frameworkLogs,
      'parley-handover: the custom resource framework, invokes the public key reader',
    );
    this.provider = new Provider(this, 'Provider', {
      onEventHandler: this.function,
      frameworkOnEventRole: frameworkRole,
      logGroup: frameworkLogs,
    });
    // The framework grants itself invoke on the function and its versions (`:*`).
    const fnId = Stack.of(this).getLogicalId(this.function.node.defaultChild as CfnFunction);
    acknowledge(frameworkRole, {
      id: `AwsSolutions-IAM5[Resource::<${fnId}.Arn>:*]`,
      reason:
        "The framework may invoke the public key reader's function and its versions: one " +
        'function, the only one it calls.',
    });

    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: this.provider.serviceToken,
      resourceType: PUBLIC_KEY_RESOURCE_TYPE,
      properties: { KeyId: props.key.keyArn },
    });
    this.publicKeyDer = this.resource.getAttString('PublicKeyDer');
  }
}
