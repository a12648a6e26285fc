// `parley-handover export <userId> [--out FILE] [--cursor C]`: everything held about a user (GET
// /users/{userId}/export, operators), as JSON on stdout or in a file, its manifest hash on stderr.
// The state table's part comes from a bounded scan: when it stopped short, the cursor to go on.
import { writeFileSync } from 'node:fs';
import { action, type Register, required } from '../context';

interface UserExport {
  records: unknown[];
  erasures: unknown[];
  stateScan: { complete: boolean; itemsRead: number; cursor?: string };
  manifestSha256: string;
}

export const registerExport: Register = (program, ctx, sink) => {
  program
    .command('export')
    .description('everything held about a user, as JSON (operators)')
    .argument('[userId]', 'the user')
    .option('--out <FILE>', 'write the export to this file (mode 0600) instead of stdout')
    .option('--cursor <C>', "go on with the state table's scan where an earlier export stopped")
    .action(
      action(sink, async (command, userArg) => {
        const userId = required(userArg, 'userId');
        const o = command.opts<{ out?: string; cursor?: string }>();
        const { api } = ctx.target(command, 'operator');
        const query = o.cursor ? `?cursor=${encodeURIComponent(o.cursor)}` : '';
        const out = await api.call<UserExport>(
          'GET',
          `/users/${encodeURIComponent(userId)}/export${query}`,
        );
        const text = `${JSON.stringify(out, null, 2)}\n`;
        if (o.out) writeFileSync(o.out, text, { mode: 0o600 });
        else ctx.io.stdout(text);
        ctx.io.stderr(
          `export of ${userId}: ${out.records.length} record(s), ${out.erasures.length} erasure(s); manifestSha256 ${out.manifestSha256}\n`,
        );
        if (!out.stateScan.complete) {
          ctx.io.stderr(
            `the state table's scan stopped after ${out.stateScan.itemsRead} item(s): run again with --cursor ${out.stateScan.cursor}\n`,
          );
        }
        return 0;
      }),
    );
};
