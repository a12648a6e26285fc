// The store contract (./stores.contract.ts) against the DynamoDB adapters, over real HTTP to an
// in-process dynalite; each case gets a fresh pair of tables.
import { createHistoryStore } from '../../functions/adapters/history-store';
import { createStateStore } from '../../functions/adapters/state-store';
import { type LocalDynamo, startDynalite } from '../support/dynalite';
import { describeStoreContract } from './stores.contract';

let dynamo: LocalDynamo;

describeStoreContract(
  'DynamoDB adapters on dynalite',
  async () => {
    const tables = await dynamo.createTables();
    return {
      history: createHistoryStore({ client: dynamo.client, tableName: tables.history }),
      state: createStateStore({ client: dynamo.client, tableName: tables.state }),
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
