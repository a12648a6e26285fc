// What is left to do after a first `cdk deploy`, told from the stack outputs cdk wrote
// (`--outputs-file`) and the stage configuration: each Service's secrets command, its callback URL
// and header for Parley, the alarm subscription to confirm, and the first requests. Pure: the
// caller reads the file and prints the text. No secret is known here, so none can be printed.
import { z } from 'zod';
import { type LoadedStage, placeholdersOf } from '../../lib/config';
import { outputIdFor } from '../../lib/data-stack';
import { stackNames } from '../../lib/parley-handover';

/** A deploy's outputs cannot tell the next steps (one sentence). */
export class OutputsError extends Error {
  override readonly name = 'OutputsError';
}

/** cdk's outputs file: stack name -> output name -> value. */
const outputsSchema = z.record(z.string(), z.record(z.string(), z.string()));

export type StackOutputs = z.infer<typeof outputsSchema>;

/** Parses the text of an outputs file; `source` names it in messages. */
export const parseOutputs = (text: string, source: string): StackOutputs => {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new OutputsError(`${source} is not JSON: run npm run deploy again to rewrite it.`);
  }
  const parsed = outputsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new OutputsError(`${source} is not a cdk outputs file (stack name -> output -> value).`);
  }
  return parsed.data;
};

/** The values the next steps need, with a sentence for the first one missing. */
const deployedValues = (stage: LoadedStage, outputs: StackOutputs, source: string) => {
  const stackName = stackNames(stage.config.stage).api;
  const api = outputs[stackName];
  if (!api) {
    throw new OutputsError(
      `${source} has no outputs of ${stackName}: the API stack of stage "${stage.config.stage}" was not deployed.`,
    );
  }
  const value = (key: string, what: string): string => {
    const v = api[key];
    if (!v) {
      throw new OutputsError(
        `${source} has no ${key} output of ${stackName} (${what}): deploy this version of the stack.`,
      );
    }
    return v;
  };
  return {
    apiUrl: value('ApiUrl', 'the API URL'),
    processorLogGroup: value('ProcessorLogGroupName', "the processor's log group"),
    webhooks: stage.config.services.map((service) => ({
      service,
      url: value(outputIdFor('WebhookUrl', service.name), `the webhook URL of "${service.name}"`),
    })),
  };
};

/**
 * The next steps, as the text `npm run deploy` prints after a successful deploy.
 * @param source how to name the outputs file in messages
 * @param again the command that prints them again
 */
export const nextSteps = (
  stage: LoadedStage,
  outputs: StackOutputs,
  source: string,
  again?: string,
): string => {
  const { config, infra } = stage;
  const name = config.stage;
  const { apiUrl, processorLogGroup, webhooks } = deployedValues(stage, outputs, source);
  const width = Math.max(...webhooks.map((w) => w.service.name.length)) + 1;
  const lines: string[] = [];
  const say = (...more: string[]) => lines.push(...more);

  say(`Deployed stage "${name}" (${stage.source}). What is left to do, once:`, '');
  const placeholders = placeholdersOf(stage);
  if (placeholders.length) {
    say(
      `Note: ${stage.source} still holds placeholders (stage "${name}" may keep them, Parley will ` +
        `not accept them): ${placeholders.join('; ')}. Fill them in and run npm run deploy again.`,
      '',
    );
  }

  say(
    "1. Fill each Service's secrets. `read -rs` takes the Service's shared service-account secret",
    '   from Parley without showing it or keeping it in your shell history; set-service then prints',
    "   the Service's callback header, API token and signing secret once: keep them in your",
    '   password manager.',
  );
  for (const { service } of webhooks) {
    say(
      `   ${service.name} (${service.identification}):`,
      '     read -rs PARLEY_SHARED_SECRET',
      `     printf '%s' "$PARLEY_SHARED_SECRET" | npm run -s secrets -- set-service --stage ${name} --service ${service.identification} --shared-secret-stdin --generate-tokens`,
    );
  }
  say(
    '   An auditor, for the CLI and audits (prints its token once):',
    `     npm run -s secrets -- add-auditor --stage ${name} --name audit-team`,
    '',
  );

  say(
    "2. Register each Service's callback at Parley (through Parley support or its console): the",
    '   URL below, method POST, and the header with the callback token set-service printed for it.',
  );
  for (const { service, url } of webhooks) {
    say(
      `   ${`${service.name}:`.padEnd(width)} ${url}`,
      `   ${''.padEnd(width)} Authorization: Bearer <callback token of ${service.name}>`,
    );
  }
  say('');

  let step = 3;
  if (infra.alarmEmail) {
    say(
      `${step++}. Confirm the alarms' e-mail subscription: AWS sent "AWS Notification - Subscription`,
      `   Confirmation" to ${infra.alarmEmail}; alarms reach it only after its link is opened.`,
      '',
    );
  }

  say(`${step++}. Give each Service's program its API token and signing secret (step 1).`);
  for (const { service } of webhooks) {
    say(
      service.downstreamUrl
        ? `   ${`${service.name}:`.padEnd(width)} callbacks are forwarded to ${service.downstreamUrl}`
        : `   ${`${service.name}:`.padEnd(width)} no downstreamUrl: its callbacks are recorded, not forwarded`,
    );
  }
  say('');

  say(
    `${step}. Try it:`,
    `     curl -s ${apiUrl}/health`,
    `     npx parley-handover --url ${apiUrl} --token "$AUDITOR_TOKEN" services`,
    "   then send a message as a user at Parley and watch the processor's log:",
    `     aws logs tail ${processorLogGroup} --follow`,
  );
  if (again) say('', `Print this again: ${again}`);
  return lines.join('\n');
};
