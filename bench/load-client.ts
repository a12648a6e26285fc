// Runs one load plan in a forked child process (bench/load.ts) and waits for its result. The child
// exits on its own after answering; it is killed if it has not answered within `timeoutMs`.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import type { LoadPlan, LoadResult } from './load';

export const runLoadInChild = (plan: LoadPlan, timeoutMs = 15 * 60_000): Promise<LoadResult> =>
  new Promise((resolve, reject) => {
    const child = fork(join(__dirname, 'load.ts'), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let settled = false;
    const timer = setTimeout(() => {
      if (!settled) child.kill('SIGKILL');
    }, timeoutMs);
    child.on('message', (msg: { ok: boolean; result?: LoadResult; error?: string }) => {
      settled = true;
      clearTimeout(timer);
      if (msg.ok && msg.result) resolve(msg.result);
      else reject(new Error(`load generator failed: ${msg.error}`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (!settled) reject(new Error(`load generator exited with ${code} before answering`));
    });
    child.send(plan);
  });
