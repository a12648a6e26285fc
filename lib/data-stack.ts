// The stateful stack: the history and state tables (built from the shared definitions), the
// Secrets Manager secrets, and the signed checkpoints' key and bucket. Everything here is retained
// when the stack is deleted, but for the deploy-time function that copies the checkpoint key's
// public half into the outputs.
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { historyTable, stateTable } from '../functions/contracts/tables';
import type { StageConfig } from '../functions/schemas/config';
import { CheckpointPublicKey } from './constructs/checkpoint-public-key';
import { Checkpoints } from './constructs/checkpoints';
import { HandoverSecrets } from './constructs/secrets';
import { DefinedTable } from './constructs/tables';

export interface DataStackProps extends StackProps {
  /** The stage configuration (stage name and Services). */
  config: StageConfig;
  /**
   * Retention of the log groups of the deploy-time functions (the checkpoint public key's).
   * @default RetentionDays.ONE_MONTH
   */
  logRetention?: RetentionDays;
  /**
   * Folder of the handler entry files.
   * @default functions/handlers in this repository
   */
  handlersDir?: string;
}

/** Output id of a Service-specific value: `Prefix` + the name's letters and digits. */
export const outputIdFor = (prefix: string, serviceName: string): string =>
  `${prefix}${serviceName.replace(/[^A-Za-z0-9]/g, '')}`;

export class DataStack extends Stack {
  public readonly history: DefinedTable;
  public readonly state: DefinedTable;
  public readonly secrets: HandoverSecrets;
  public readonly checkpoints: Checkpoints;
  public readonly checkpointPublicKey: CheckpointPublicKey;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.history = new DefinedTable(this, 'History', { definition: historyTable });
    this.state = new DefinedTable(this, 'State', { definition: stateTable });
    this.secrets = new HandoverSecrets(this, 'Secrets', {
      stage: config.stage,
      services: config.services,
    });

    this.checkpoints = new Checkpoints(this, 'Checkpoints', {
      stage: config.stage,
      retentionDays: config.checkpoints.retentionDays,
    });
    this.checkpointPublicKey = new CheckpointPublicKey(this, 'CheckpointPublicKey', {
      key: this.checkpoints.key,
      logRetention: props.logRetention ?? RetentionDays.ONE_MONTH,
      handlersDir: props.handlersDir,
    });

    new CfnOutput(this, 'HistoryTableName', { value: this.history.table.tableName });
    new CfnOutput(this, 'CheckpointBucketName', {
      description: 'The signed checkpoints (Object Lock); an auditor syncs it for verify --offline',
      value: this.checkpoints.bucket.bucketName,
    });
    new CfnOutput(this, 'CheckpointKeyArn', {
      description: 'Signs the checkpoints; its public key: CheckpointPublicKeyDer',
      value: this.checkpoints.key.keyArn,
    });
    // One line: a PEM is this wrapped at 64 characters between BEGIN/END PUBLIC KEY lines.
    new CfnOutput(this, 'CheckpointPublicKeyDer', {
      description: 'Verifies the checkpoints: SPKI, DER, base64 (also GET /checkpoints/public-key)',
      value: this.checkpointPublicKey.publicKeyDer,
    });
    new CfnOutput(this, 'StateTableName', { value: this.state.table.tableName });
    new CfnOutput(this, 'AuditorsSecretArn', { value: this.secrets.auditors.secretArn });
    for (const service of config.services) {
      new CfnOutput(this, outputIdFor('SecretArn', service.name), {
        description: `Secret of the Service "${service.name}" (${service.identification})`,
        value: this.secrets.services.get(service.identification)!.secretArn,
      });
      new CfnOutput(this, outputIdFor('CallbackTokensSecretArn', service.name), {
        description: `Callback-token secret of the Service "${service.name}" (${service.identification})`,
        value: this.secrets.callbackTokens.get(service.identification)!.secretArn,
      });
    }
  }
}
