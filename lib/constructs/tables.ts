// A DynamoDB table built from one of the shared definitions in functions/contracts/tables.ts, so the
// deployed schema and the local one cannot drift. Stateful defaults: on-demand, point-in-time
// recovery, deletion protection, RETAIN.
import { RemovalPolicy } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  ProjectionType,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import type { KeyAttribute, Projection, TableDefinition } from '../../functions/contracts/tables';

export interface DefinedTableProps {
  /** The shared definition: keys, GSIs, LSIs, TTL attribute. */
  definition: TableDefinition;
  /**
   * What happens to the table when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  removalPolicy?: RemovalPolicy;
}

const attribute = (a: KeyAttribute) => ({
  name: a.name,
  type: a.type === 'S' ? AttributeType.STRING : AttributeType.NUMBER,
});

/** An index's projection as CDK declares it (the definition says what each reader needs). */
const projectionOf = (p: Projection) =>
  p.type === 'INCLUDE'
    ? { projectionType: ProjectionType.INCLUDE, nonKeyAttributes: [...p.attributes] }
    : { projectionType: p.type === 'ALL' ? ProjectionType.ALL : ProjectionType.KEYS_ONLY };

export class DefinedTable extends Construct {
  public readonly table: Table;
  public readonly definition: TableDefinition;

  constructor(scope: Construct, id: string, props: DefinedTableProps) {
    super(scope, id);
    const { definition } = props;
    this.definition = definition;
    this.table = new Table(this, 'Table', {
      partitionKey: attribute(definition.partitionKey),
      sortKey: definition.sortKey ? attribute(definition.sortKey) : undefined,
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      timeToLiveAttribute: definition.ttlAttribute,
    });
    // DynamoDB creates one GSI per update of an existing table, so a stage deployed before an index
    // was declared would need one deploy per new index. No stage is deployed yet: every index
    // (the state table's byOwner, byDue and byNotificationStatus included) comes with the table.
    for (const g of definition.globalIndexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: g.name,
        partitionKey: attribute(g.partitionKey),
        sortKey: g.sortKey ? attribute(g.sortKey) : undefined,
        ...projectionOf(g.projection),
      });
    }
    for (const l of definition.localIndexes) {
      this.table.addLocalSecondaryIndex({
        indexName: l.name,
        sortKey: attribute(l.sortKey),
        ...projectionOf(l.projection),
      });
    }
  }

  /** The ARNs of the named indexes (all of the table's indexes by default), for Query grants. */
  indexArns(names?: readonly string[]): string[] {
    const all = [
      ...this.definition.globalIndexes.map((g) => g.name),
      ...this.definition.localIndexes.map((l) => l.name),
    ];
    const chosen = names ?? all;
    for (const n of chosen) {
      if (!all.includes(n)) throw new Error(`Table ${this.node.path} has no index "${n}".`);
    }
    return chosen.map((n) => `${this.table.tableArn}/index/${n}`);
  }
}
