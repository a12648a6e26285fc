import { join } from 'node:path';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { type DlqIo, runDlq } from '../../local/dlq';
import { startLocalDynamo } from '../../local/dynamo';
import { createLocalQueue } from '../../local/queue/local-queue';
import { queueTable } from '../../local/queue/store';
import { TABLES } from '../../local/stack';
import { startFromEnvironment } from '../../local/start';
import { tempDir } from './support';

const io = (env: NodeJS.ProcessEnv) => {
  const out: string[] = [];
  const err: string[] = [];
  const value: DlqIo = { env, out: (l) => out.push(l), err: (l) => err.push(l) };
  return { io: value, out, err };
};

const parkedItem = (messageId: string) => ({
  pk: 'QUEUE#callbacks-dlq',
  sk: '0000000000000007',
  messageId,
  groupId: 'user-20',
  dedupId: 'svc#message#7',
  body: '{"secret":"message text"}',
  sentAt: 1_767_000_000_000,
  visibleAt: 1_767_000_000_000,
  receiveCount: 5,
});

describe('local DLQ tool', () => {
  it('lists and redrives the DLQ of a data directory when no stack runs', async () => {
    const dir = tempDir('dlq-');
    try {
      const dynamo = await startLocalDynamo({ path: join(dir.dir, 'dynamo') });
      await dynamo.ensureTable(queueTable, TABLES.queue);
      await dynamo.client.send(
        new PutCommand({ TableName: TABLES.queue, Item: parkedItem('m-7') }),
      );
      await dynamo.close();

      const listed = io({ PARLEY_LOCAL_DIR: dir.dir });
      expect(await runDlq(['list'], listed.io)).toBe(0);
      expect(listed.out[0]).toBe('1 message(s) in the DLQ');
      expect(listed.out[1]).toMatch(
        /^ {2}m-7 {2}group user-20 {2}delivery svc#message#7 {2}received 5x/,
      );
      expect(listed.out.join('\n')).not.toContain('message text');

      const redriven = io({ PARLEY_LOCAL_DIR: dir.dir });
      expect(await runDlq(['redrive'], redriven.io)).toBe(0);
      expect(redriven.out).toEqual(['1 message(s) moved back to the queue']);

      const reopened = await startLocalDynamo({ path: join(dir.dir, 'dynamo') });
      const queue = createLocalQueue({ client: reopened.client, tableName: TABLES.queue });
      const back = await queue.list();
      await reopened.close();
      expect(back.map((m) => [m.messageId, m.receiveCount])).toEqual([['m-7', 0]]);
    } finally {
      dir.remove();
    }
  });

  it('works against a running npm start through its dynalite', async () => {
    const dir = tempDir('dlq-running-');
    const env = { PARLEY_LOCAL_DIR: dir.dir, PORT: '0', PARLEY_SIM_PORT: '0' };
    const running = await startFromEnvironment([], {
      env,
      out: () => undefined,
      err: () => undefined,
    });
    if (typeof running === 'number') throw new Error('npm start did not start');
    try {
      await running.stack.dynamo.client.send(
        new PutCommand({ TableName: TABLES.queue, Item: parkedItem('m-8') }),
      );

      const listed = io(env);
      expect(await runDlq(['list'], listed.io)).toBe(0);
      expect(listed.out[0]).toBe('1 message(s) in the DLQ');
      const usage = io(env);
      expect(await runDlq(['purge'], usage.io)).toBe(2);
    } finally {
      await running.close();
      dir.remove();
    }
  });
});
