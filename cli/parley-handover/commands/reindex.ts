// `parley-handover reindex --shards N [--dry-run] [--cursor C]`: re-keys every item of the sharded
// indexes for a lower indexShards (DESIGN.md "Changing N"; the work: ../reindex-tables.ts). Unlike
// the other commands it talks to DynamoDB, not to the API: a deployed stage's tables (--stage, from
// its deploy's outputs file, or by name) with the operator's own AWS credentials, as `npm run
// deploy` uses them; by default the running local stack's dynalite.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { createDocumentClient } from '../../../functions/adapters/dynamo';
import { MAX_INDEX_SHARDS } from '../../../functions/domain/shards';
import { PROJECT_ROOT, readRunInfo } from '../../../local/paths';
import { UsageError } from '../../usage';
import { action, type CliIo, countOption, type Register } from '../context';
import { printJson, table } from '../format';
import {
  decodeCursor,
  type ReindexCounts,
  ReindexCursorError,
  type ReindexPage,
  type ReindexReport,
  reindexTables,
  type TableName,
} from '../reindex-tables';

const HELP = `
Lowers indexShards without losing a listing, in three steps (docs/DESIGN.md, "Changing N"):
  1. deploy the new indexShards with indexShardsFrom set to the old one (writers use the new
     count, every listing still reads the old shards);
  2. once that deploy is done, run this command with --shards set to the new indexShards; run it
     again: a second run rewrites 0 (anything it rewrites was written by a function of the old
     deploy);
  3. deploy without indexShardsFrom.
It scans the history table, then the state table, and rewrites only each item's index keys
(records: dayPk, toPk, timeSk, outside the hash chain; owner and outbox items conditional on their
version, which it leaves as it is, so a function's write always wins; a race lost is read again).
--dry-run counts what it would rewrite and writes nothing. A progress line per page goes to
stderr with the --cursor that resumes after that page; an interrupted run prints the cursor of
the page it was on.
Tables: --stage S (from the outputs file "npm run deploy" wrote, cdk.out/outputs-S.json, or
--outputs-file), or --history-table and --state-table; AWS credentials and region from the usual
places (AWS_PROFILE, the environment, SSO). Without them: the running local stack (npm start).
Formats: table, json. Exit code 1 when it stopped or an item could not be keyed (each named).`;

interface Options {
  shards?: string;
  dryRun?: boolean;
  cursor?: string;
  pageSize?: string;
  stage?: string;
  outputsFile?: string;
  historyTable?: string;
  stateTable?: string;
}

interface Tables {
  tables: Record<TableName, string>;
  client: ReturnType<typeof createDocumentClient>;
}

/** A deployed stage's table names from the outputs file of its deploy. */
const outputsTables = async (stage: string, file: string): Promise<Record<TableName, string>> => {
  let outputs: unknown;
  try {
    outputs = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    throw new Error(
      `No stack outputs in ${file}: run npm run deploy -- -c stage=${stage} first, or name its tables with --history-table and --state-table.`,
    );
  }
  // The stacks module loads the CDK: only this branch needs its naming.
  const { stackNames } = await import('../../../lib/parley-handover');
  const stack = stackNames(stage).data;
  const data = (outputs as Record<string, Record<string, unknown>> | null)?.[stack];
  const history = data?.HistoryTableName;
  const state = data?.StateTableName;
  if (typeof history !== 'string' || typeof state !== 'string') {
    throw new Error(
      `${file} has no outputs of ${stack}: deploy stage "${stage}" first, or name its tables with --history-table and --state-table.`,
    );
  }
  return { history, state };
};

/** Where the tables are, and a client for them (the caller destroys it). */
const tablesOf = async (options: Options, io: CliIo): Promise<Tables> => {
  const env = io.env;
  if (options.stage !== undefined || options.historyTable !== undefined) {
    const tables = options.historyTable
      ? { history: options.historyTable, state: options.stateTable! }
      : await outputsTables(
          options.stage!,
          path.resolve(
            options.outputsFile ??
              path.join(PROJECT_ROOT, 'cdk.out', `outputs-${options.stage}.json`),
          ),
        );
    // The SDK's own chain finds the operator's credentials and region.
    const client = createDocumentClient({
      endpoint: env.AWS_ENDPOINT_URL_DYNAMODB || undefined,
      region: env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined,
    });
    return { tables, client };
  }
  const running = readRunInfo(env);
  if (!running?.dynamoEndpoint) {
    throw new Error(
      'No local stack is running (npm start): start it, or name a deployed stage with --stage (its outputs file) or --history-table and --state-table.',
    );
  }
  // The local stack's module is large: loaded only for a local run.
  const { TABLES } = await import('../../../local/stack');
  return {
    tables: { history: TABLES.history, state: TABLES.state },
    client: createDocumentClient({ endpoint: running.dynamoEndpoint, region: 'local' }),
  };
};

/** The command line's checks, before any table is touched. */
const checked = (options: Options) => {
  if (options.shards === undefined) {
    throw new UsageError(
      'Missing --shards: the index shards to re-key every item for (the new indexShards).',
    );
  }
  const shards = Number(countOption(options.shards, '--shards', MAX_INDEX_SHARDS));
  const pageSize =
    options.pageSize === undefined
      ? 100
      : Number(countOption(options.pageSize, '--page-size', 1000));
  if ((options.historyTable === undefined) !== (options.stateTable === undefined)) {
    throw new UsageError('--history-table and --state-table go together: name both tables.');
  }
  if (options.stage !== undefined && options.historyTable !== undefined) {
    throw new UsageError(
      'Name the tables by --stage or by --history-table and --state-table, not both.',
    );
  }
  if (options.outputsFile !== undefined && options.stage === undefined) {
    throw new UsageError('--outputs-file goes with --stage.');
  }
  if (options.stage !== undefined && !/^[a-z][a-z0-9-]{0,30}$/.test(options.stage)) {
    throw new UsageError('--stage must be a stage name: lowercase letters, digits and dashes.');
  }
  return { shards, pageSize };
};

const figures = (c: ReindexCounts, dryRun: boolean) =>
  `read ${c.read}, ${dryRun ? 'to rewrite' : 'rewritten'} ${c.rewritten}, already right ${c.alreadyRight}, not indexed ${c.notIndexed}, gone ${c.gone}, lost races ${c.lostRaces}${c.unkeyable ? `, unkeyable ${c.unkeyable}` : ''}`;

const progressOf = (page: ReindexPage, dryRun: boolean) =>
  `reindex ${page.table}${dryRun ? ' (dry run)' : ''}: page ${page.page}, ${figures(page.counts, dryRun)}. ${
    page.cursor ? `Resume with --cursor ${page.cursor}` : 'Done.'
  }`;

const summary = (report: ReindexReport): string => {
  const title = report.dryRun
    ? `reindex to ${report.shards} index shards, dry run (nothing written):`
    : `reindex to ${report.shards} index shards:`;
  const rows = (['history', 'state'] as const).map((name) => ({
    table: name,
    read: report[name].read,
    [report.dryRun ? 'to rewrite' : 'rewritten']: report[name].rewritten,
    'already right': report[name].alreadyRight,
    'not indexed': report[name].notIndexed,
    gone: report[name].gone,
    'lost races': report[name].lostRaces,
    unkeyable: report[name].unkeyable,
  }));
  return `${title}\n${table(rows, Object.keys(rows[0]!))}\n`;
};

export const registerReindex: Register = (program, ctx, sink) => {
  program
    .command('reindex')
    .description('re-key the sharded indexes for a lower indexShards (DynamoDB, your AWS role)')
    .option('--shards <N>', 'the new indexShards (1-64)')
    .option('--dry-run', 'count what would be rewritten; write nothing')
    .option('--cursor <C>', 'go on after the page a progress line named')
    .option('--page-size <N>', 'items per scan page (1-1000, default 100)')
    .option('--stage <STAGE>', "a deployed stage: its tables from its deploy's outputs file")
    .option('--outputs-file <FILE>', 'that file (default cdk.out/outputs-STAGE.json)')
    .option('--history-table <NAME>', 'a deployed history table, by name')
    .option('--state-table <NAME>', 'a deployed state table, by name')
    .addHelpText('after', HELP)
    .action(
      action(sink, async (command: Command) => {
        const format = ctx.format(command, ['table', 'json']);
        const options = command.opts<Options>();
        const { shards, pageSize } = checked(options);
        const dryRun = options.dryRun === true;
        if (options.cursor !== undefined) {
          try {
            decodeCursor(options.cursor, shards, dryRun);
          } catch (err) {
            if (err instanceof ReindexCursorError) throw new UsageError(err.message);
            throw err;
          }
        }
        const { tables, client } = await tablesOf(options, ctx.io);
        let report: ReindexReport;
        try {
          report = await reindexTables({
            client,
            tables,
            shards,
            dryRun,
            pageSize,
            ...(options.cursor !== undefined ? { cursor: options.cursor } : {}),
            onPage: (page) => ctx.io.stderr(`${progressOf(page, dryRun)}\n`),
            onUnkeyable: (name, key, problem) =>
              ctx.io.stderr(
                `reindex ${name}: the item ${JSON.stringify(key)} cannot be keyed (${problem}); it was left as it is.\n`,
              ),
          });
        } finally {
          client.destroy();
        }
        if (format === 'json') printJson(ctx.io, report);
        else ctx.io.stdout(summary(report));
        return report.history.unkeyable + report.state.unkeyable > 0 ? 1 : 0;
      }),
    );
};
