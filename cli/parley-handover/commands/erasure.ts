// `parley-handover erasure …`: operators ask for an erasure of a user (POST
// /users/{userId}/erasure; `request`), read the register (`list`, `show`, auditors too), write it
// back after a restore (`reapply`) and ask for a retention run (`retention`). The eraser works
// within a minute; `show` tells when an erasure is done and whether its erased chain verifies.
import { readFileSync } from 'node:fs';
import { UsageError } from '../../usage';
import { action, countOption, type Format, type Register, required } from '../context';
import { printJson, progressLine, table } from '../format';

interface Counts {
  records: number;
  withMetadata: number;
  ownerItem: number;
  notifications: number;
  stateItems: number | null;
}

interface RequestAnswer {
  erasureId?: string | null;
  status?: string;
  dryRun?: true;
  noop?: boolean;
  counts: Counts;
}

interface ErasureView {
  erasure: { erasureId: string; level: string; status: string; counts: Counts };
  tombstone: { count: number; firstSeq: number; lastSeq: number } | null;
  verify: {
    ok: boolean;
    count: number;
    firstBroken?: { seq: number; problem: string };
    checkpoint: { status: string; checkpointId: string | null };
  } | null;
}

interface RegisterPage {
  items: Record<string, unknown>[];
  cursor?: string;
}

const HELP = [
  '',
  'Forms:',
  '  parley-handover erasure request <userId> --level metadata|full --reason R --legal-basis B [--dry-run]',
  '  parley-handover erasure show <erasureId>',
  '  parley-handover erasure list [--all] [--limit N] [--cursor C]',
  '  parley-handover erasure reapply [--register FILE]',
  '  parley-handover erasure retention',
  '',
  'request (operators): level metadata removes the metadata and salt of every record of the user;',
  'level full moves its records out of its history (their links and hashes kept) and removes its',
  'owner, idempotency, delivery and outbox items, leaving a tombstone. The eraser does it within a',
  'minute: `show` says when it is done and verifies the erased chain (exit 1 when it does not).',
  'Before pointing a stage at a restored table, save the register: `erasure list --all --json >',
  'register.json`; then `erasure reapply --register register.json` erases again what came back.',
].join('\n');

const countsLine = (c: Counts) =>
  `${c.records} record(s) (${c.withMetadata} with metadata), ${c.ownerItem ? 'an owner item' : 'no owner item'}, ${c.notifications} outbox item(s)`;

export const registerErasure: Register = (program, ctx, sink) => {
  const erasure = program
    .command('erasure')
    .description("erase a user's data, read the erasure register (operators; auditors read)")
    .addHelpText('after', HELP);

  erasure
    .command('request')
    .description('ask the eraser to erase a user (operators)')
    .argument('[userId]', 'the user')
    .option('--level <LEVEL>', 'metadata or full')
    .option('--reason <R>', 'why (kept in the register and the tombstone)')
    .option('--legal-basis <B>', 'the legal basis (e.g. "GDPR Art. 17(1)(a)")')
    .option('--dry-run', 'count what would be erased, erase nothing')
    .option('--idempotency-key <K>', 'names the request: a repeat answers the same erasure')
    .action(
      action(sink, async (command, userArg) => {
        const userId = required(userArg, 'userId');
        const format: Format = ctx.format(command, ['table', 'json']);
        const o = command.opts<{
          level?: string;
          reason?: string;
          legalBasis?: string;
          dryRun?: boolean;
          idempotencyKey?: string;
        }>();
        if (o.level !== 'metadata' && o.level !== 'full') {
          throw new UsageError('erasure request needs --level metadata or --level full.');
        }
        if (!o.reason?.trim()) throw new UsageError('erasure request needs --reason.');
        if (!o.legalBasis?.trim()) throw new UsageError('erasure request needs --legal-basis.');
        const { api } = ctx.target(command, 'operator');
        const out = await api.call<RequestAnswer>(
          'POST',
          `/users/${encodeURIComponent(userId)}/erasure`,
          {
            body: {
              level: o.level,
              reason: o.reason,
              legalBasis: o.legalBasis,
              ...(o.dryRun ? { dryRun: true } : {}),
            },
            ...(o.idempotencyKey ? { headers: { 'Idempotency-Key': o.idempotencyKey } } : {}),
          },
        );
        if (format === 'json') printJson(ctx.io, out);
        else if (out.dryRun) {
          ctx.io.stdout(
            `${out.noop ? 'nothing to erase' : `would erase (${o.level})`}: ${countsLine(out.counts)}\n`,
          );
        } else if (out.noop) {
          ctx.io.stdout(`nothing left to erase at level ${o.level}: a no-op\n`);
        } else {
          ctx.io.stdout(
            `erasure ${out.erasureId} ${out.status} (${o.level}): ${countsLine(out.counts)}; the eraser does it within a minute (erasure show ${out.erasureId})\n`,
          );
        }
        return 0;
      }),
    );

  erasure
    .command('show')
    .description('an erasure, its tombstone and its erased chain verified')
    .argument('[erasureId]', 'as `erasure request` answered it')
    .action(
      action(sink, async (command, idArg) => {
        const erasureId = required(idArg, 'erasureId');
        const format: Format = ctx.format(command, ['table', 'json']);
        const { api } = ctx.target(command);
        const out = await api.call<ErasureView>(
          'GET',
          `/erasures/${encodeURIComponent(erasureId)}`,
        );
        const broken = out.verify !== null && !out.verify.ok;
        if (format === 'json') printJson(ctx.io, out);
        else {
          const e = out.erasure;
          ctx.io.stdout(
            `erasure ${e.erasureId} (${e.level}): ${e.status}, ${countsLine(e.counts)}\n`,
          );
          if (out.verify?.ok) {
            ctx.io.stdout(
              `erased chain: ${out.verify.count} record(s) linked and as the tombstone says; checkpoint ${out.verify.checkpoint.status}\n`,
            );
          } else if (out.verify?.firstBroken) {
            ctx.io.stdout(
              `erased chain BROKEN at seq ${out.verify.firstBroken.seq} (${out.verify.firstBroken.problem}); ${out.verify.count} record(s) before it are linked\n`,
            );
          }
        }
        return broken ? 1 : 0;
      }),
    );

  erasure
    .command('list')
    .description('the erasure register (the whole of it with --all: save it before a restore)')
    .option('--all', 'follow the cursor to the end')
    .option('--limit <N>', 'items a page, 1 to 100 (default 50)')
    .option('--cursor <C>', 'resume where an earlier page stopped')
    .action(
      action(sink, async (command) => {
        const format: Format = ctx.format(command, ['table', 'json']);
        const o = command.opts<{ all?: boolean; limit?: string; cursor?: string }>();
        const limit = o.limit === undefined ? undefined : countOption(o.limit, '--limit', 100);
        const { api } = ctx.target(command);
        const items: Record<string, unknown>[] = [];
        const progress = progressLine(ctx.io);
        let cursor = o.cursor;
        do {
          const query = new URLSearchParams({
            ...(limit ? { limit } : {}),
            ...(cursor ? { cursor } : {}),
          }).toString();
          const page = await api.call<RegisterPage>('GET', `/erasures${query ? `?${query}` : ''}`);
          items.push(...page.items);
          cursor = page.cursor;
          if (o.all) progress.show(`erasure list: ${items.length} item(s)`);
        } while (o.all && cursor);
        progress.end();
        if (format === 'json') printJson(ctx.io, { items, ...(cursor ? { cursor } : {}) });
        else {
          const rows = items.map((i) => ({ ...i, records: (i.counts as Counts).records }));
          ctx.io.stdout(
            `${table(rows, ['erasureId', 'level', 'status', 'requestedBy', 'requestedAt', 'records'])}\n`,
          );
          if (cursor) ctx.io.stdout(`more: run again with --cursor ${cursor} (or --all)\n`);
        }
        return 0;
      }),
    );

  erasure
    .command('reapply')
    .description('after a restore: erase again what the restored tables brought back (operators)')
    .option(
      '--register <FILE>',
      'the register saved from the old table (`erasure list --all --json`)',
    )
    .action(
      action(sink, async (command) => {
        const format: Format = ctx.format(command, ['table', 'json']);
        const o = command.opts<{ register?: string }>();
        let erasures: unknown;
        if (o.register !== undefined) {
          let saved: unknown;
          try {
            saved = JSON.parse(readFileSync(o.register, 'utf8'));
          } catch {
            throw new UsageError(`--register ${o.register} is not a JSON file.`);
          }
          erasures = Array.isArray(saved) ? saved : (saved as { items?: unknown }).items;
          if (!Array.isArray(erasures)) {
            throw new UsageError('--register must hold `erasure list --all --json` output.');
          }
        }
        const { api } = ctx.target(command, 'operator');
        const out = await api.call<{ written: number; reopened: number; retention: boolean }>(
          'POST',
          '/erasures/reapply',
          erasures ? { body: { erasures } } : {},
        );
        if (format === 'json') printJson(ctx.io, out);
        else {
          ctx.io.stdout(
            `${out.written} register item(s) written back, ${out.reopened} erasure(s) opened again${out.retention ? ', a retention run asked for' : ''}; the eraser does them within a minute\n`,
          );
        }
        return 0;
      }),
    );

  erasure
    .command('retention')
    .description('ask the eraser for a retention run now (operators)')
    .action(
      action(sink, async (command) => {
        const { api } = ctx.target(command, 'operator');
        await api.call('POST', '/erasures/retention');
        ctx.io.stdout('retention run asked for: the eraser runs it within a minute\n');
        return 0;
      }),
    );
};
