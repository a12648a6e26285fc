// `parley-handover`: the command line over this service's HTTP API, for a deployed stage (--url and
// --token, or PARLEY_HANDOVER_URL / PARLEY_HANDOVER_TOKEN) or, by default, the local stack with the
// auditor token of the local services file. Exit codes: 0 ok, 1 failure (an API error, the service
// unreachable, a broken hash chain), 2 a wrong command line.
import { parseArgs } from 'node:util';
import type { HandoverRecord } from '../functions/domain/types';
import type { VerifyReport } from '../functions/domain/verify';
import { ApiError, type ApiClient, createApiClient, toApiError } from './api-client';
import { readRunInfo, servicesFilePath } from './paths';
import { type LocalSettings, readServicesFile } from './services-file';

export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  fetch?: typeof fetch;
  /** Whether stderr is a terminal (progress lines rewrite themselves). */
  stderrIsTty?: boolean;
}

class UsageError extends Error {
  override name = 'UsageError';
}

const GLOBAL_HELP = `Usage: parley-handover [--url URL] [--token TOKEN] <command> [options]

Commands:
  services                                   the account's services
  owner <userId> [--at ISO]                  who owns a user now, or at an instant
  handover <userId> <newOwner> [--reason R]  move a user (newOwner: id, name or "default")
  audit user <userId>                        a user's handover history
  audit range --from ISO --to ISO [...]      handovers in a time range, every page
  verify <userId> | --all                    check hash chains against the owner items
  reconcile [--user ID]                      finish stale pending handovers

Options (every command):
  --url URL        the API (default PARLEY_HANDOVER_URL, else the local stack)
  --token TOKEN    a bearer token (default PARLEY_HANDOVER_TOKEN, else the local auditor's)
  --help           help for a command, e.g. "parley-handover audit range --help"

Exit codes: 0 ok, 1 failure, 2 wrong usage.`;

const HELP: Record<string, string> = {
  services: `Usage: parley-handover services [--format table|json]

Lists the account's Parley services (identification, name, role, default).`,
  owner: `Usage: parley-handover owner <userId> [--at ISO] [--format table|json]

Who owns the user now (asked of Parley), or at an instant (--at, from the history).`,
  handover: `Usage: parley-handover handover <userId> <newOwner> [--reason R] [--expected-owner S]
                                [--idempotency-key K] [--as SERVICE] [--format table|json]

Hands the user to newOwner (an identification, a service name, or "default"). Needs the
current owner's apiToken: --token, or locally --as SERVICE (a name or id from the services
file); without either, locally, the token of the current owner is used.`,
  audit: `Usage: parley-handover audit user <userId> [--limit N] [--format table|json|csv]
       parley-handover audit range --from ISO --to ISO [--service S] [--reason R]
                                   [--status completed|failed] [--source SRC]
                                   [--page-size N] [--format table|json|csv]

"audit user" prints a user's history, newest first (every page unless --limit).
"audit range" pages through every handover in [from, to] (oldest first, --page-size records a
request, default 1000); a progress line goes to stderr. --service is the destination service.`,
  verify: `Usage: parley-handover verify <userId> [--format table|json]
       parley-handover verify --all [--page-size N] [--format table|json]

Asks the service (GET /users/{userId}/verify) to walk the user's whole history: every link of
the hash chain (seq gaps, edited, deleted or reordered records) and the newest record against
the owner item's lastSeq/lastHash (a deleted or rewritten newest record). Reads only.
--all verifies every user with an owner item, --page-size users a request (default 20, at most
100), with a progress line on stderr and a summary of the broken ones.
Exit code 1 when a chain is broken (or a request failed), 0 when all are intact.`,
  reconcile: `Usage: parley-handover reconcile [--user ID] [--format table|json]

Finishes stale pending handovers (all, or one user's), as the 5-minute schedule does.`,
};

type Values = Record<string, string | boolean | undefined>;

const COMMON = {
  url: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  format: { type: 'string' },
} as const;

const OPTIONS = {
  services: {},
  owner: { at: { type: 'string' } },
  handover: {
    reason: { type: 'string' },
    'expected-owner': { type: 'string' },
    'idempotency-key': { type: 'string' },
    as: { type: 'string' },
  },
  audit: {
    from: { type: 'string' },
    to: { type: 'string' },
    service: { type: 'string' },
    reason: { type: 'string' },
    status: { type: 'string' },
    source: { type: 'string' },
    limit: { type: 'string' },
    'page-size': { type: 'string' },
  },
  verify: { all: { type: 'boolean' }, 'page-size': { type: 'string' } },
  reconcile: { user: { type: 'string' } },
} as const;

type Command = keyof typeof OPTIONS;
const isCommand = (s: string | undefined): s is Command => s !== undefined && s in OPTIONS;

const parse = (command: Command, argv: string[]) => {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...COMMON, ...OPTIONS[command] },
      strict: true,
      allowPositionals: true,
    });
    return { values: values as Values, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
};

const str = (v: string | boolean | undefined): string | undefined =>
  typeof v === 'string' ? v : undefined;

const formatOf = (values: Values, allowed: string[]): string => {
  const format = str(values.format) ?? 'table';
  if (!allowed.includes(format)) {
    throw new UsageError(`--format must be one of ${allowed.join(', ')}.`);
  }
  return format;
};

const isoOf = (value: string | undefined, name: string): string | undefined => {
  if (value === undefined) return undefined;
  if (
    !/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ||
    Number.isNaN(Date.parse(value))
  ) {
    throw new UsageError(`${name} must be an ISO-8601 date or instant, e.g. 2026-03-01T00:00:00Z.`);
  }
  return value;
};

const positional = (positionals: string[], index: number, name: string): string => {
  const value = positionals[index];
  if (value === undefined || value === '') throw new UsageError(`Missing <${name}>.`);
  return value;
};

const noMore = (positionals: string[], count: number) => {
  if (positionals.length > count)
    throw new UsageError(`Unexpected argument "${positionals[count]}".`);
};

// ---------------------------------------------------------------- where and as whom

interface Target {
  api: ApiClient;
  /** The local services file, when talking to the local stack. */
  local: LocalSettings | null;
  explicitToken: boolean;
}

const localSettings = (env: NodeJS.ProcessEnv): LocalSettings | null => {
  try {
    return readServicesFile(servicesFilePath(env));
  } catch {
    return null;
  }
};

const targetOf = (values: Values, io: CliIo): Target => {
  const env = io.env;
  const url =
    str(values.url) ??
    env.PARLEY_HANDOVER_URL ??
    readRunInfo(env)?.url ??
    `http://localhost:${env.PORT || 3000}`;
  const explicit = str(values.token) ?? env.PARLEY_HANDOVER_TOKEN;
  const deployed = str(values.url) !== undefined || env.PARLEY_HANDOVER_URL !== undefined;
  const local = deployed ? null : localSettings(env);
  const token = explicit ?? local?.auditors[0]?.token;
  return {
    api: createApiClient({ url, token, fetch: io.fetch }),
    local,
    explicitToken: explicit !== undefined,
  };
};

// ---------------------------------------------------------------- output

const table = (rows: Record<string, unknown>[], columns: string[]): string => {
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
};

const RECORD_COLUMNS = [
  'seq',
  'createdAt',
  'userId',
  'fromOwner',
  'toOwner',
  'reason',
  'source',
  'status',
];

const printJson = (io: CliIo, value: unknown) => io.stdout(`${JSON.stringify(value, null, 2)}\n`);

// ---------------------------------------------------------------- commands

const pageAll = async (
  api: ApiClient,
  path: string,
  params: URLSearchParams,
  progress?: (pages: number, records: number) => void,
): Promise<HandoverRecord[]> => {
  const records: HandoverRecord[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const query = new URLSearchParams(params);
    if (cursor) query.set('cursor', cursor);
    const page = await api.call<{ handovers: HandoverRecord[]; cursor?: string }>(
      'GET',
      `${path}?${query}`,
    );
    records.push(...page.handovers);
    pages += 1;
    progress?.(pages, records.length);
    cursor = page.cursor;
  } while (cursor);
  return records;
};

/** A progress line on stderr: rewritten in place on a terminal, one line per update otherwise. */
const statusLine = (io: CliIo) => {
  let shown = false;
  return {
    show(text: string) {
      if (io.stderrIsTty) io.stderr(`\r\x1b[K${text}`);
      else io.stderr(`${text}\n`);
      shown = true;
    },
    end() {
      if (shown && io.stderrIsTty) io.stderr('\n');
    },
  };
};

const progressLine = (io: CliIo, label: string) => {
  let shown = false;
  return {
    update(pages: number, records: number) {
      const text = `${label}: ${records} record(s), ${pages} page(s)`;
      if (io.stderrIsTty) io.stderr(`\r${text}`);
      else io.stderr(`${text}\n`);
      shown = true;
    },
    end() {
      if (shown && io.stderrIsTty) io.stderr('\n');
    },
  };
};

const rangeParams = (values: Values): URLSearchParams => {
  const from = isoOf(str(values.from), '--from');
  const to = isoOf(str(values.to), '--to');
  if (!from || !to) throw new UsageError('audit range needs --from and --to.');
  const status = str(values.status);
  if (status !== undefined && status !== 'completed' && status !== 'failed') {
    throw new UsageError('--status must be completed or failed.');
  }
  const pageSize = str(values['page-size']) ?? '1000';
  if (!/^[1-9]\d*$/.test(pageSize) || Number(pageSize) > 1000) {
    throw new UsageError('--page-size must be a whole number from 1 to 1000.');
  }
  const params = new URLSearchParams({ from, to, limit: pageSize });
  for (const name of ['service', 'reason', 'status', 'source'] as const) {
    const v = str(values[name]);
    if (v !== undefined) params.set(name, v);
  }
  return params;
};

/** Every CSV page of an audit route (the API's own CSV), with the header row once. */
const csvPages = async (
  api: ApiClient,
  path: string,
  params: URLSearchParams,
  io: CliIo,
  options: { label?: string; onePage?: boolean } = {},
) => {
  const progress = options.label ? progressLine(io, options.label) : null;
  let cursor: string | null = null;
  let pages = 0;
  let rows = 0;
  do {
    const query = new URLSearchParams(params);
    if (cursor) query.set('cursor', cursor);
    const res = await api.request('GET', `${path}?${query}`, { headers: { accept: 'text/csv' } });
    if (res.status !== 200) throw toApiError(res);
    const text = res.text.endsWith('\n') || res.text === '' ? res.text : `${res.text}\n`;
    // Every page starts with the header row: keep the first one only.
    const body = pages === 0 ? text : text.slice(text.indexOf('\n') + 1);
    io.stdout(body);
    pages += 1;
    rows += Math.max(0, text.split('\n').length - 2);
    progress?.update(pages, rows);
    cursor = options.onePage ? null : res.headers.get('x-next-cursor');
  } while (cursor);
  progress?.end();
};

const pageSizeOf = (values: Values, fallback: string, max: number): string => {
  const size = str(values['page-size']) ?? fallback;
  if (!/^[1-9]\d*$/.test(size) || Number(size) > max) {
    throw new UsageError(`--page-size must be a whole number from 1 to ${max}.`);
  }
  return size;
};

/** One user's verdict, as a sentence. */
const verifyLine = (r: VerifyReport): string => {
  const inFlight = r.pending
    ? `; a handover is in flight (seq ${r.pending.seq}, ${r.pending.recorded ? 'recorded' : 'not recorded yet'})`
    : '';
  if (!r.ok && r.firstBroken) {
    return `user ${r.userId}: hash chain BROKEN at seq ${r.firstBroken.seq} (${r.firstBroken.problem}); ${r.count} record(s) before it are sound`;
  }
  if (r.count === 0)
    return `user ${r.userId}: no handover records yet (nothing to verify)${inFlight}`;
  return `user ${r.userId}: ${r.count} record(s), hash chain intact up to the owner item's seq ${r.lastSeq} (hash ${r.lastHash})${inFlight}`;
};

/** verify --all: every page of GET /verify, a progress line, then the summary. */
const verifyAll = async (
  api: ApiClient,
  io: CliIo,
  format: string,
  pageSize: string,
): Promise<number> => {
  const progress = statusLine(io);
  const broken: VerifyReport[] = [];
  let users = 0;
  let cursor: string | undefined;
  try {
    do {
      const query = new URLSearchParams({ limit: pageSize });
      if (cursor) query.set('cursor', cursor);
      const page = await api.call<{ users: VerifyReport[]; cursor?: string }>(
        'GET',
        `/verify?${query}`,
      );
      users += page.users.length;
      broken.push(...page.users.filter((u) => !u.ok));
      progress.show(`verify --all: ${users} user(s) checked, ${broken.length} broken`);
      cursor = page.cursor;
    } while (cursor);
  } catch (err) {
    progress.end();
    io.stderr(`verify --all stopped after ${users} user(s) (${broken.length} broken so far).\n`);
    throw err;
  }
  progress.end();
  // Scan order means nothing to a reader: the summary lists users by id.
  const firstBroken = broken
    .map((r) => ({ userId: r.userId, ...r.firstBroken! }))
    .sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
  if (format === 'json') {
    printJson(io, { users, ok: users - broken.length, broken: broken.length, firstBroken });
  } else {
    io.stdout(`users ${users}, ok ${users - broken.length}, broken ${broken.length}\n`);
    for (const b of firstBroken) {
      io.stdout(`  user ${b.userId}: BROKEN at seq ${b.seq} (${b.problem})\n`);
    }
  }
  return broken.length > 0 ? 1 : 0;
};

/** The command and its arguments; options such as --url and --token may come before the command. */
const splitCommand = (argv: string[]): { first: string | undefined; rest: string[] } => {
  const leading: string[] = [];
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith('-') && argv[i] !== '--help' && argv[i] !== '-h') {
    const arg = argv[i]!;
    const takesValue =
      (arg === '--url' || arg === '--token' || arg === '--format') && !arg.includes('=');
    leading.push(...argv.slice(i, takesValue ? i + 2 : i + 1));
    i += takesValue ? 2 : 1;
  }
  return { first: argv[i], rest: [...leading, ...argv.slice(i + 1)] };
};

const run = async (argv: string[], io: CliIo): Promise<number> => {
  const { first, rest } = splitCommand(argv);
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    io.stdout(`${GLOBAL_HELP}\n`);
    return first === undefined ? 2 : 0;
  }
  if (!isCommand(first)) throw new UsageError(`Unknown command "${first}".`);
  const command = first;
  const { values, positionals } = parse(command, rest);
  if (values.help) {
    io.stdout(`${HELP[command]}\n`);
    return 0;
  }
  const target = targetOf(values, io);
  const { api } = target;

  switch (command) {
    case 'services': {
      noMore(positionals, 0);
      const format = formatOf(values, ['table', 'json']);
      const out = await api.call<{ services: Record<string, unknown>[] }>('GET', '/services');
      if (format === 'json') printJson(io, out);
      else io.stdout(`${table(out.services, ['identification', 'name', 'role', 'default'])}\n`);
      return 0;
    }
    case 'owner': {
      const userId = positional(positionals, 0, 'userId');
      noMore(positionals, 1);
      const format = formatOf(values, ['table', 'json']);
      const at = isoOf(str(values.at), '--at');
      const query = at ? `?at=${encodeURIComponent(at)}` : '';
      const out = await api.call<{
        owner: { identification: string; name: string } | null;
        since?: string | null;
        known?: boolean;
      }>('GET', `/users/${encodeURIComponent(userId)}/owner${query}`);
      if (format === 'json') printJson(io, out);
      else if (!out.owner) io.stdout(`user ${userId}: no owner known${at ? ` at ${at}` : ''}\n`);
      else
        io.stdout(
          `user ${userId}: ${out.owner.name} (${out.owner.identification})${at ? ` at ${at}` : ''}${out.since ? `, since ${out.since}` : ''}\n`,
        );
      return 0;
    }
    case 'handover': {
      const userId = positional(positionals, 0, 'userId');
      const newOwner = positional(positionals, 1, 'newOwner');
      noMore(positionals, 2);
      const format = formatOf(values, ['table', 'json']);
      const token = await handoverToken(target, userId, str(values.as));
      const reason = str(values.reason);
      const expectedOwner = str(values['expected-owner']);
      const key = str(values['idempotency-key']);
      const out = await api.call<{
        changed: boolean;
        owner: { identification: string; name: string };
        handover?: HandoverRecord;
      }>('POST', '/handovers', {
        token,
        body: {
          userId,
          newOwner,
          ...(reason ? { metadata: { reason } } : {}),
          ...(expectedOwner ? { expectedOwner } : {}),
        },
        ...(key ? { headers: { 'idempotency-key': key } } : {}),
      });
      if (format === 'json') printJson(io, out);
      else if (!out.changed)
        io.stdout(`user ${userId} already belongs to ${out.owner.name}: nothing changed\n`);
      else
        io.stdout(
          `user ${userId} now belongs to ${out.owner.name} (handover ${out.handover?.handoverId}, seq ${out.handover?.seq})\n`,
        );
      return 0;
    }
    case 'audit': {
      const sub = positional(positionals, 0, 'user|range');
      const format = formatOf(values, ['table', 'json', 'csv']);
      if (sub === 'user') {
        const userId = positional(positionals, 1, 'userId');
        noMore(positionals, 2);
        const limit = str(values.limit);
        if (limit !== undefined && !/^[1-9]\d*$/.test(limit)) {
          throw new UsageError('--limit must be a positive whole number.');
        }
        const path = `/users/${encodeURIComponent(userId)}/handovers`;
        if (format === 'csv') {
          await csvPages(api, path, new URLSearchParams({ limit: limit ?? '1000' }), io, {
            onePage: limit !== undefined,
          });
          return 0;
        }
        let records: HandoverRecord[];
        if (limit) {
          const out = await api.call<{ handovers: HandoverRecord[] }>(
            'GET',
            `${path}?limit=${limit}`,
          );
          records = out.handovers;
        } else {
          records = await pageAll(api, path, new URLSearchParams({ limit: '1000' }));
        }
        if (format === 'json') printJson(io, { handovers: records });
        else
          io.stdout(
            records.length
              ? `${table(records as never, RECORD_COLUMNS)}\n`
              : `user ${userId}: no handovers\n`,
          );
        return 0;
      }
      if (sub === 'range') {
        noMore(positionals, 1);
        const params = rangeParams(values);
        if (format === 'csv') {
          await csvPages(api, '/handovers', params, io, { label: 'audit range' });
          return 0;
        }
        const progress = progressLine(io, 'audit range');
        const records = await pageAll(api, '/handovers', params, progress.update);
        progress.end();
        if (format === 'json') printJson(io, { handovers: records });
        else
          io.stdout(
            records.length
              ? `${table(records as never, RECORD_COLUMNS)}\n`
              : 'no handovers in this range\n',
          );
        return 0;
      }
      throw new UsageError('audit needs "user <userId>" or "range --from ISO --to ISO".');
    }
    case 'verify': {
      const format = formatOf(values, ['table', 'json']);
      if (values.all) {
        noMore(positionals, 0);
        return verifyAll(api, io, format, pageSizeOf(values, '20', 100));
      }
      if (values['page-size'] !== undefined) throw new UsageError('--page-size goes with --all.');
      const userId = positional(positionals, 0, 'userId');
      noMore(positionals, 1);
      const report = await api.call<VerifyReport>(
        'GET',
        `/users/${encodeURIComponent(userId)}/verify`,
      );
      if (format === 'json') printJson(io, report);
      else io.stdout(`${verifyLine(report)}\n`);
      return report.ok ? 0 : 1;
    }
    case 'reconcile': {
      noMore(positionals, 0);
      const format = formatOf(values, ['table', 'json']);
      const user = str(values.user);
      const out = await api.call<{
        examined: number;
        recovered: number;
        failed: { userId: string; code: string }[];
      }>('POST', '/reconcile', user ? { body: { userId: user } } : {});
      if (format === 'json') printJson(io, out);
      else {
        io.stdout(
          `examined ${out.examined}, recovered ${out.recovered}, failed ${out.failed.length}\n`,
        );
        for (const f of out.failed) io.stdout(`  user ${f.userId}: ${f.code}\n`);
      }
      return out.failed.length > 0 ? 1 : 0;
    }
  }
};

/** The token for POST /handovers: --token, else (locally) --as or the current owner's apiToken. */
const handoverToken = async (
  target: Target,
  userId: string,
  as: string | undefined,
): Promise<string | undefined> => {
  if (target.explicitToken && as === undefined) return undefined; // the client's own token
  const local = target.local;
  if (!local) {
    if (as !== undefined) throw new UsageError('--as works with the local services file only.');
    return undefined;
  }
  const tokenOf = (ref: string) => {
    const s = local.file.services.find(
      (x) => x.serviceIdentification === ref || x.name.toLowerCase() === ref.toLowerCase(),
    );
    if (!s) throw new UsageError(`No service "${ref}" in the local services file.`);
    return local.secrets[s.serviceIdentification]!.apiTokens[0];
  };
  if (as !== undefined) return tokenOf(as);
  const owner = await target.api.call<{ owner: { identification: string } }>(
    'GET',
    `/users/${encodeURIComponent(userId)}/owner`,
  );
  return tokenOf(owner.owner.identification);
};

/** Runs one command line; resolves with the exit code. */
export const runCli = async (argv: string[], io: CliIo): Promise<number> => {
  try {
    return await run(argv, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`${err.message} Try --help.\n`);
      return 2;
    }
    if (err instanceof ApiError) {
      const hint =
        err.code === 'unreachable' && !io.env.PARLEY_HANDOVER_URL && !argv.includes('--url')
          ? ' Is the local stack running (npm start)? For a deployed stage pass --url.'
          : '';
      io.stderr(
        err.status === 0
          ? `${err.message}${hint}\n`
          : `The service answered ${err.status} ${err.code}: ${err.message}\n`,
      );
      return 1;
    }
    io.stderr(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
};

export const main = async (argv: string[]): Promise<number> =>
  runCli(argv, {
    env: process.env,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    stderrIsTty: process.stderr.isTTY === true,
  });

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
