// The local DynamoDB: a dynalite server (DynamoDB's API on LevelDB, or in memory) on a local port,
// reached through the real AWS SDK like in AWS. Tables are created from the same definitions the
// CDK data stack uses (functions/platform/tables.ts) when they do not exist yet, so a second run on
// the same data directory keeps its history.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateTableCommand,
  DescribeTableCommand,
  ListTablesCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient } from '../functions/adapters/dynamo';
import { createTableInput, type TableDefinition } from '../functions/contracts/tables';

// dynalite ships without type declarations: this is the part of it we use.
const dynalite: (options: {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}) => Server = require('dynalite');

/** A configuration or environment problem, told in one sentence (start.ts prints it, exit 1). */
export class LocalSetupError extends Error {
  override name = 'LocalSetupError';
}

export interface LocalDynamoOptions {
  /** LevelDB directory (created if missing); omit for an in-memory store. */
  path?: string;
  /** Default 0: a free port. */
  port?: number;
  host?: string;
}

export interface LocalDynamo {
  /** `http://127.0.0.1:{port}` */
  endpoint: string;
  client: DynamoDBDocumentClient;
  /** Where the data lives, or null in memory. */
  path: string | null;
  /** Creates the table from a definition unless it exists; resolves once it is ACTIVE. */
  ensureTable(definition: TableDefinition, name: string): Promise<'created' | 'existing'>;
  close(): Promise<void>;
}

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * One run per data directory: LevelDB's own lock error surfaces inside dynalite as a crash, so
 * `{path}.lock` (holding the owner's pid) is taken first. A lock left by a dead process is taken
 * over. Returns the release function.
 */
const lockDirectory = (path: string): (() => void) => {
  const file = `${path}.lock`;
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') {
        throw new LocalSetupError(
          `The data directory ${path} is not writable (${code ?? 'error'}).`,
        );
      }
      const owner = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && pidAlive(owner)) {
        throw new LocalSetupError(
          `The data directory ${path} is in use by another run (process ${owner}): stop it, or use --memory.`,
        );
      }
      rmSync(file, { force: true });
    }
  }
  throw new LocalSetupError(`The data directory ${path} could not be locked.`);
};

export const startLocalDynamo = async (options: LocalDynamoOptions = {}): Promise<LocalDynamo> => {
  let unlock = () => {};
  if (options.path) {
    try {
      mkdirSync(options.path, { recursive: true });
    } catch (err) {
      throw new LocalSetupError(
        `The data directory ${options.path} cannot be created (${(err as NodeJS.ErrnoException).code ?? 'error'}).`,
      );
    }
    unlock = lockDirectory(options.path);
  }
  const server = dynalite({
    ...(options.path ? { path: options.path } : {}),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    unlock();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = createDocumentClient({ endpoint, region: 'local' });

  const close = async () => {
    client.destroy();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    unlock();
  };

  // LevelDB opens lazily: the first request tells whether the directory is usable (another run
  // holding its lock, or no permission).
  try {
    await client.send(new ListTablesCommand({}));
  } catch {
    await close().catch(() => undefined);
    throw new LocalSetupError(
      `The data directory ${options.path ?? '(memory)'} cannot be opened: it may not be writable.`,
    );
  }

  const ensureTable: LocalDynamo['ensureTable'] = async (definition, name) => {
    let status: 'created' | 'existing' = 'existing';
    try {
      await client.send(new DescribeTableCommand({ TableName: name }));
    } catch (err) {
      if (!(err instanceof ResourceNotFoundException)) throw err;
      await client.send(new CreateTableCommand(createTableInput(definition, name)));
      status = 'created';
    }
    // dynalite flips a new table (and its indexes) to ACTIVE on a later tick.
    for (let attempt = 0; attempt < 200; attempt += 1) {
      const out = await client.send(new DescribeTableCommand({ TableName: name }));
      const indexes = out.Table?.GlobalSecondaryIndexes ?? [];
      if (out.Table?.TableStatus === 'ACTIVE' && indexes.every((i) => i.IndexStatus === 'ACTIVE')) {
        return status;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new LocalSetupError(`The local table ${name} did not become active.`);
  };

  return { endpoint, client, path: options.path ?? null, ensureTable, close };
};
