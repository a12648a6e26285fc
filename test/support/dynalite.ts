// An in-memory dynalite (DynamoDB-compatible server) for tests, on a free port, reached over real
// HTTP through the same document client the functions use. Each `createTables()` call builds a
// fresh history/state pair from the shared table definitions under unique names.
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { CreateTableCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient } from '../../functions/adapters/dynamo';
import {
  createTableInput,
  historyTable,
  stateTable,
  type TableDefinition,
} from '../../functions/contracts/tables';

// dynalite ships without type declarations: this is the part of it we use.
const dynalite: (options: {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}) => Server = require('dynalite');

export interface LocalDynamo {
  /** `http://127.0.0.1:{port}` */
  endpoint: string;
  client: DynamoDBDocumentClient;
  /** A fresh, empty pair of tables (names unique within the process). */
  createTables(): Promise<{ history: string; state: string }>;
  /** Stops the client and the server, dropping open connections. */
  close(): Promise<void>;
}

export const startDynalite = async (): Promise<LocalDynamo> => {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = createDocumentClient({ endpoint, region: 'local' });

  const createTable = async (definition: TableDefinition, prefix: string): Promise<string> => {
    const name = `${prefix}-${randomUUID().slice(0, 8)}`;
    await client.send(new CreateTableCommand(createTableInput(definition, name)));
    // dynalite flips the table to ACTIVE on its next tick; a few describes see it.
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const out = await client.send(new DescribeTableCommand({ TableName: name }));
      const indexes = out.Table?.GlobalSecondaryIndexes ?? [];
      if (out.Table?.TableStatus === 'ACTIVE' && indexes.every((i) => i.IndexStatus === 'ACTIVE')) {
        return name;
      }
    }
    throw new Error(`Table ${name} did not become active.`);
  };

  return {
    endpoint,
    client,
    createTables: async () => ({
      history: await createTable(historyTable, 'history'),
      state: await createTable(stateTable, 'state'),
    }),
    close: async () => {
      client.destroy();
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
};
