// The local store in a process of its own: in AWS, DynamoDB's work runs on no core of the
// function's, while an in-process dynalite shares the function's event loop. The bench starts it
// here when asked (bench/gap.ts compares the two); the same startLocalDynamo, driven over IPC.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import type { TableDefinition } from '../functions/contracts/tables';
import { startLocalDynamo } from '../local/dynamo';
import { tsExecArgv } from './load-client';

type Request =
  | { id: number; kind: 'ensure'; definition: TableDefinition; name: string }
  | { id: number; kind: 'close' };
type Answer =
  | { id: number; ok: true; endpoint?: string }
  | { id: number; ok: false; error: string };

export interface StoreProcess {
  endpoint: string;
  ensureTable(definition: TableDefinition, name: string): Promise<void>;
  close(): Promise<void>;
}

export const startDynamoProcess = async (): Promise<StoreProcess> => {
  const child = fork(join(__dirname, 'dynamo-process.ts'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: tsExecArgv(),
  });
  const waiting = new Map<number, (a: Answer) => void>();
  child.on('message', (a: Answer) => {
    waiting.get(a.id)?.(a);
    waiting.delete(a.id);
  });
  let next = 0;
  const answer = (id: number) =>
    new Promise<Answer>((resolve, reject) => {
      waiting.set(id, resolve);
      child.once('exit', (code) => reject(new Error(`the store process exited (${code})`)));
    });
  const ask = (request: Request) => {
    const answered = answer(request.id);
    child.send(request);
    return answered;
  };
  const ready = await answer(0);
  if (!ready.ok || !ready.endpoint) throw new Error('the store process did not start');
  return {
    endpoint: ready.endpoint,
    ensureTable: async (definition, name) => {
      const a = await ask({ id: ++next, kind: 'ensure', definition, name });
      if (!a.ok) throw new Error(a.error);
    },
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ id: ++next, kind: 'close' });
      await exited;
    },
  };
};

// As the child: start the store, say where it is, serve requests until told to close.
if (require.main === module && process.send) {
  startLocalDynamo().then(
    (dynamo) => {
      process.send!({ id: 0, ok: true, endpoint: dynamo.endpoint });
      process.on('message', async (r: Request) => {
        if (r.kind === 'close') {
          await dynamo.close();
          process.exit(0);
        }
        try {
          await dynamo.ensureTable(r.definition, r.name);
          process.send!({ id: r.id, ok: true });
        } catch (err) {
          process.send!({ id: r.id, ok: false, error: String(err) });
        }
      });
    },
    (err: unknown) => {
      process.send!({ id: 0, ok: false, error: String(err) });
      process.exit(1);
    },
  );
}
