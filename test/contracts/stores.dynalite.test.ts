// The store contract (./stores.contract.ts) against the DynamoDB adapters, over real HTTP to an
// in-process dynalite; each case gets a fresh pair of tables (the sharded cases ask for their own,
// with the number of index shards they walk).
import { createHistoryStore } from '../../functions/adapters/history-store';
import { createStateStore } from '../../functions/adapters/state-store';
import { type LocalDynamo, startDynalite } from '../support/dynalite';
import { describeStoreContract } from './stores.contract';

let dynamo: LocalDynamo;

describeStoreContract(
  'DynamoDB adapters on dynalite',
  async (options) => {
    const tables = await dynamo.createTables();
    const shards = options?.shards;
    return {
      history: createHistoryStore({ client: dynamo.client, tableName: tables.history, shards }),
      state: createStateStore({ client: dynamo.client, tableName: tables.state, shards }),
    };
  },
  {
    beforeAll: async () => {
      dynamo = await startDynalite();
    },
    afterAll: async () => {
      await dynamo.close();
    },
  },
);
