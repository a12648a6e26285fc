// Runs one load plan in a forked child process (bench/load.ts) and waits for its result. The child
// exits on its own after answering; it is killed if it has not answered within `timeoutMs`.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import type { LoadPlan, LoadResult } from './load';

/** Node's flags for a TypeScript child: this process's, with tsx's loader when it has none. */
export const tsExecArgv = (): string[] =>
  process.execArgv.some((a) => a.includes('tsx'))
    ? process.execArgv
    : [...process.execArgv, '--import', 'tsx'];

export const runLoadInChild = (plan: LoadPlan, timeoutMs = 15 * 60_000): Promise<LoadResult> =>
  runInChild<LoadPlan, LoadResult>('load.ts', plan, timeoutMs);

/** Forks `file` (a bench module that answers one plan over IPC) and waits for its result. */
export const runInChild = <P, R>(file: string, plan: P, timeoutMs = 15 * 60_000): Promise<R> =>
  new Promise((resolve, reject) => {
    const child = fork(join(__dirname, file), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: tsExecArgv(),
    });
    let settled = false;
    const timer = setTimeout(() => {
      if (!settled) child.kill('SIGKILL');
    }, timeoutMs);
    child.on('message', (msg: { ok: boolean; result?: R; error?: string }) => {
      settled = true;
      clearTimeout(timer);
      if (msg.ok && msg.result) resolve(msg.result);
      else reject(new Error(`load generator failed: ${msg.error}`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (!settled) reject(new Error(`load generator exited with ${code} before answering`));
    });
    child.send(plan as object);
  });
