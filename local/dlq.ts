// The local runbook's DLQ tool: list the callbacks parked in the local queue's DLQ, and move them
// back to the queue (the local counterpart of SQS's DLQ redrive). It reaches the queue table of a
// running `npm start` through its dynalite, or opens the data directory itself when none runs.
//
//   npx tsx local/dlq.ts list
//   npx tsx local/dlq.ts redrive [--message-id ID ...]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createDocumentClient } from '../functions/adapters/dynamo';
import { LocalSetupError, startLocalDynamo } from './dynamo';
import { localDir, readRunInfo } from './paths';
import { createLocalQueue, type LocalQueue } from './queue/local-queue';
import { queueTable } from './queue/store';
import { TABLES } from './stack';

const HELP = `Usage: npx tsx local/dlq.ts list
       npx tsx local/dlq.ts redrive [--message-id ID ...]

Lists the local DLQ, or moves its messages (all, or the given ones) back to the end of the
queue with a fresh receive count. Uses the running "npm start" if there is one.`;

export interface DlqIo {
  env: NodeJS.ProcessEnv;
  out: (line: string) => void;
  err: (line: string) => void;
}

const withQueue = async <T>(env: NodeJS.ProcessEnv, use: (queue: LocalQueue) => Promise<T>) => {
  const running = readRunInfo(env);
  if (running?.dynamoEndpoint) {
    const client = createDocumentClient({ endpoint: running.dynamoEndpoint, region: 'local' });
    try {
      return await use(createLocalQueue({ client, tableName: TABLES.queue }));
    } finally {
      client.destroy();
    }
  }
  const dynamo = await startLocalDynamo({ path: join(localDir(env), 'dynamo') });
  try {
    await dynamo.ensureTable(queueTable, TABLES.queue);
    return await use(createLocalQueue({ client: dynamo.client, tableName: TABLES.queue }));
  } finally {
    await dynamo.close();
  }
};

export const runDlq = async (argv: string[], io: DlqIo): Promise<number> => {
  let parsed: { values: { help?: boolean; 'message-id'?: string[] }; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        help: { type: 'boolean', short: 'h' },
        'message-id': { type: 'string', multiple: true },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    io.err(`${(err as Error).message} Try --help.`);
    return 2;
  }
  const [command, ...rest] = parsed.positionals;
  if (parsed.values.help) {
    io.out(HELP);
    return 0;
  }
  if ((command !== 'list' && command !== 'redrive') || rest.length > 0) {
    io.err(`Say "list" or "redrive". Try --help.`);
    return 2;
  }
  try {
    return await withQueue(io.env, async (queue) => {
      if (command === 'list') {
        const parked = await queue.listDlq();
        io.out(`${parked.length} message(s) in the DLQ`);
        for (const m of parked) {
          // The body holds message text: only ids and counts are shown.
          io.out(
            `  ${m.messageId}  group ${m.groupId}  delivery ${m.dedupId}  received ${m.receiveCount}x  sent ${new Date(m.sentAt).toISOString()}`,
          );
        }
        return 0;
      }
      const moved = await queue.redrive({ messageIds: parsed.values['message-id'] });
      io.out(`${moved} message(s) moved back to the queue`);
      return 0;
    });
  } catch (err) {
    io.err(
      err instanceof LocalSetupError
        ? err.message
        : `The DLQ tool failed: ${(err as Error).message}`,
    );
    return 1;
  }
};

if (require.main === module) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  runDlq(process.argv.slice(2), {
    env: process.env,
    out: (line) => console.log(line),
    err: (line) => console.error(line),
  }).then((code) => {
    process.exitCode = code;
  });
}
