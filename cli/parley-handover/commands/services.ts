// `parley-handover services`: the account's Parley services.
import { action, type Register } from '../context';
import { printJson, table } from '../format';

export const registerServices: Register = (program, ctx, sink) => {
  program
    .command('services')
    .description("the account's services")
    .addHelpText(
      'after',
      "\nLists the account's Parley services (identification, name, role, default).\nFormats: table, json.",
    )
    .action(
      action(sink, async (command) => {
        const format = ctx.format(command, ['table', 'json']);
        const { api } = ctx.target(command);
        const out = await api.call<{ services: Record<string, unknown>[] }>('GET', '/services');
        if (format === 'json') printJson(ctx.io, out);
        else
          ctx.io.stdout(`${table(out.services, ['identification', 'name', 'role', 'default'])}\n`);
        return 0;
      }),
    );
};
