// Where the local runtime keeps its files: `.local/` at the project root (from this file's
// location, never the working directory), or PARLEY_LOCAL_DIR.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const PROJECT_ROOT = join(__dirname, '..');

export const localDir = (env: NodeJS.ProcessEnv = process.env): string =>
  env.PARLEY_LOCAL_DIR || join(PROJECT_ROOT, '.local');

/** The services file generated on a first run. */
export const defaultServicesFile = (env: NodeJS.ProcessEnv = process.env): string =>
  join(localDir(env), 'services.json');

/** The services file in use: PARLEY_SERVICES_FILE, else the default one. */
export const servicesFilePath = (env: NodeJS.ProcessEnv = process.env): string =>
  env.PARLEY_SERVICES_FILE || defaultServicesFile(env);

/** What a running `npm start` tells the demo and the CLI (no secrets: those stay in the file). */
export interface RunInfo {
  pid: number;
  url: string;
  /** The simulator's address, when it plays Parley. */
  simulatorUrl: string | null;
  servicesFile: string;
  /** True when the demo bot and desk are both attached (generated services file, or --demo). */
  demo: boolean;
  /** The run's dynalite (the DLQ tool reaches the queue table through it). */
  dynamoEndpoint?: string;
}

const runFile = (env: NodeJS.ProcessEnv) => join(localDir(env), 'run.json');

export const writeRunInfo = (info: RunInfo, env: NodeJS.ProcessEnv = process.env): void => {
  writeFileSync(runFile(env), `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
};

export const removeRunInfo = (env: NodeJS.ProcessEnv = process.env): void => {
  rmSync(runFile(env), { force: true });
};

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The running stack's info, or null when none runs (a stale file from a crash is ignored). */
export const readRunInfo = (env: NodeJS.ProcessEnv = process.env): RunInfo | null => {
  const file = runFile(env);
  if (!existsSync(file)) return null;
  try {
    const info = JSON.parse(readFileSync(file, 'utf8')) as RunInfo;
    return typeof info.pid === 'number' && typeof info.url === 'string' && alive(info.pid)
      ? info
      : null;
  } catch {
    return null;
  }
};
