// `parley-handover verify <userId> | --all`: the service walks the hash chains against the owner
// items and the signed checkpoints (GET /users/{userId}/verify, GET /verify); the CLI only reports
// its verdicts. `verify --offline` checks files with nothing of ours running (verify-offline.ts).
import type { VerifyReport } from '../../../functions/domain/verify';
import { UsageError } from '../../usage';
import type { ApiClient } from '../api-client';
import { action, type CliIo, countOption, type Format, type Register } from '../context';
import { printJson, progressLine, verifyLine } from '../format';
import { type OfflineOptions, verifyOfflineCommand } from './verify-offline';

/** The checkpoint part of a report, once a checkpoint holds the user. */
const checkpointLine = (r: VerifyReport): string => {
  const c = r.checkpoint;
  if (!c || c.status === 'none') return '';
  const state = c.status === 'verified' ? 'verified' : `BROKEN${c.fault ? ` (${c.fault})` : ''}`;
  return `  checkpoint ${c.checkpointId} (${c.createdAt ?? 'unreadable'}): ${state} at seq ${c.seq}, ${c.notYetCheckpointed} record(s) not yet checkpointed\n`;
};

/** verify --all: every page of GET /verify, a progress line, then the summary. */
const verifyAll = async (
  api: ApiClient,
  io: CliIo,
  format: Format,
  pageSize: string,
): Promise<number> => {
  const progress = progressLine(io);
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

export const registerVerify: Register = (program, ctx, sink) => {
  program
    .command('verify')
    .description('check hash chains against the owner items (one user, or --all)')
    .usage(
      '<userId> | --all [--page-size N] | --offline --public-key FILE --checkpoints DIR --records FILE [--subject-ref HEX]',
    )
    .argument('[userId]', 'the Parley user id')
    .option('--all', 'every user with an owner item')
    .option('--page-size <N>', 'with --all: users a request, 1 to 100 (default 20)')
    .option('--offline', 'check files only, with nothing of this service running')
    .option('--public-key <FILE>', "with --offline: the checkpoints' public key (PEM)")
    .option('--checkpoints <DIR>', 'with --offline: a copy of the checkpoint bucket')
    .option('--records <FILE>', "with --offline: the user's records (export, or audit user --json)")
    .option('--subject-ref <HEX>', "with --offline: the user's subjectRef (verify's, the export's)")
    .addHelpText(
      'after',
      [
        '',
        'Forms:',
        '  parley-handover verify <userId> [--format table|json]',
        '  parley-handover verify --all [--page-size N] [--format table|json]',
        '',
        "Asks the service (GET /users/{userId}/verify) to walk the user's whole history: every link of",
        'the hash chain (seq gaps, edited, deleted or reordered records) and the newest record against',
        "the owner item's lastSeq/lastHash (a deleted or rewritten newest record). Reads only.",
        '--all verifies every user with an owner item, --page-size users a request (default 20, at most',
        '100), with a progress line on stderr and a summary of the broken ones.',
        'The newest signed checkpoint holding the user is checked too: a history rewritten below',
        'it fails even when records and owner item agree; records after it are "not yet',
        'checkpointed", which is no break.',
        '',
        '  parley-handover verify --offline --public-key key.pem --checkpoints DIR --records user.json',
        '                          [--subject-ref HEX]',
        'needs nothing of this service: the key (GET /checkpoints/public-key), a copy of the bucket',
        "(aws s3 sync s3://BUCKET DIR, or .local/checkpoints-v2) and the user's records (the output",
        'of "export <id>", of "audit user <id> --json", or a JSON list of records). Every',
        "checkpoint's signature and the chain between them, the records' hash chain, and the user's",
        'head in the newest checkpoint holding it. Checkpoints name users by subjectRef (an HMAC of',
        'the user id under a key of the service): it comes from the records file when it has one',
        "(the export's), else from --subject-ref (the subjectRef of verify's --format json answer).",
        "Without either, the user's head is located by a record's seq and hash, and a warning says",
        'why that is weaker: a history rewritten as a whole then matches no head and reads as "not',
        'checkpointed" instead of broken. See docs/AUDIT.md.',
        'Exit code 1 when a chain is broken (or a request failed), 0 when all are intact.',
      ].join('\n'),
    )
    .action(
      action(sink, async (command, userId) => {
        const format = ctx.format(command, ['table', 'json']);
        const options = command.opts<
          { all?: boolean; pageSize?: string; offline?: boolean } & OfflineOptions
        >();
        const offlineOnly = (['publicKey', 'checkpoints', 'records', 'subjectRef'] as const).find(
          (k) => options[k],
        );
        if (options.offline) {
          if (options.all) throw new UsageError('verify --offline checks one user, not --all.');
          if (options.pageSize !== undefined) throw new UsageError('--page-size goes with --all.');
          return verifyOfflineCommand(ctx.io, format, userId || undefined, options);
        }
        if (offlineOnly) {
          const flag = offlineOnly.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
          throw new UsageError(`--${flag} goes with --offline.`);
        }
        if (options.all) {
          if (userId !== undefined) {
            throw new UsageError('verify takes a user id or --all, not both.');
          }
          const pageSize = countOption(options.pageSize ?? '20', '--page-size', 100);
          return verifyAll(ctx.target(command).api, ctx.io, format, pageSize);
        }
        if (options.pageSize !== undefined) throw new UsageError('--page-size goes with --all.');
        if (userId === undefined || userId === '') {
          throw new UsageError('verify needs a <userId>, or --all.');
        }
        const report = await ctx
          .target(command)
          .api.call<VerifyReport>('GET', `/users/${encodeURIComponent(userId)}/verify`);
        if (format === 'json') printJson(ctx.io, report);
        else ctx.io.stdout(`${verifyLine(report)}\n${checkpointLine(report)}`);
        return report.ok ? 0 : 1;
      }),
    );
};
