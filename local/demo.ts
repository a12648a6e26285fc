// `npm run demo`: the seed's story, end to end, the way Parley drives it. The simulator's control
// API plays user 20's side (each message becomes a callback to our webhook); the demo bot answers
// what it can and asks for a handover to the Agent Service for the rest; the demo agent desk
// replies through our API and, on "bye", hands the user back to the default Service. At the end it
// prints the conversation as a timeline and the audit queries' answers.
//
// It uses a running `npm start` that has the demo bot and desk attached, else says so and starts
// its own throwaway stack (in memory, free ports), stopping it afterwards.
import { MIN_IDLE_SECONDS } from '../functions/domain/lifecycle/lease';
import type { HandoverRecord } from '../functions/domain/types';
import type { Log, LogAttributes } from '../functions/domain/ports';
import { createApiClient } from '../cli/parley-handover/api-client';
import { startDemoAgent } from './demo-agent';
import { startDemoBot } from './demo-bot';
import {
  deskIdleSeconds,
  type IdleReport,
  MAX_DEMO_IDLE_SECONDS,
  startIdleAct,
} from './demo-lease';
import { readRunInfo } from './paths';
import {
  type LocalSettings,
  parseServicesFile,
  readServicesFile,
  type ServicesFile,
  tokensOf,
} from './services-file';
import {
  generateSimulatorServicesFile,
  type LocalStack,
  type LocalStackOptions,
  startLocalStack,
} from './stack';

interface ServiceRef {
  identification: string;
  name: string;
}

/** What the demo needs to know about a running stack. */
export interface DemoEnvironment {
  url: string;
  simulatorUrl: string;
  auditorToken: string;
  bot: ServiceRef;
  agent: ServiceRef;
  /** The desk's lease (idle seconds), when it holds one: the second act waits it out. */
  deskIdleSeconds?: number | null;
}

/** The demo's Services: the first `bot` and the first `agent` of the services file. */
export const demoServices = (settings: LocalSettings): { bot: ServiceRef; agent: ServiceRef } => {
  const pick = (role: 'bot' | 'agent') => {
    const s = settings.file.services.find((x) => (x.role ?? 'bot') === role);
    if (!s) throw new Error(`The services file has no service with role "${role}" for the demo.`);
    return { identification: s.serviceIdentification, name: s.name };
  };
  return { bot: pick('bot'), agent: pick('agent') };
};

export interface DemoStack {
  env: DemoEnvironment;
  stack: LocalStack;
  close(): Promise<void>;
}

/**
 * The services file `npm start` generates: the simulator's, with each agent failing over at its
 * first failed forward (`afterFailures: 1`; the default 3 waits a visibility timeout, 65 s here,
 * between tries), so the README's failover walk shows in seconds what a stage does in minutes.
 */
export const generateStartServicesFile = (): ServicesFile => {
  const file = generateSimulatorServicesFile();
  for (const s of file.services) {
    if (s.role === 'agent' && !s.failover) s.failover = { afterFailures: 1 };
    // A user the desk leaves alone is back with the bot within a minute (issue 15), yet slowly
    // enough to follow the README's examples.
    if (s.role === 'agent' && !s.lease) s.lease = { idleSeconds: START_DESK_IDLE_SECONDS };
  }
  return file;
};

/** The desk's idle time in the file `npm start` generates. */
export const START_DESK_IDLE_SECONDS = 30;

/**
 * The services file of the demo's own stack: `npm start`'s, with the shortest lease for the desk
 * (10 s), so that the second act is quick to watch.
 */
export const generateDemoServicesFile = (): ServicesFile => {
  const file = generateStartServicesFile();
  for (const s of file.services) {
    if (s.role === 'agent') s.lease = { ...s.lease, idleSeconds: MIN_IDLE_SECONDS };
  }
  return file;
};

/** Service names by identification, for the lines the demo bot and desk print. */
export const serviceNames = (settings: LocalSettings): Record<string, string> =>
  Object.fromEntries(settings.file.services.map((s) => [s.serviceIdentification, s.name]));

/**
 * A local stack with the demo bot and desk behind the Bot and Agent Services; `out` gets the
 * lines they print (the notifications they receive).
 */
export const startDemoStack = async (
  options: LocalStackOptions & { out?: (line: string) => void } = {},
): Promise<DemoStack> => {
  // The bot and the desk listen first: the stack's configuration names their URLs.
  const { out, ...stackOptions } = options;
  const settings = stackOptions.settings ?? parseServicesFile(generateSimulatorServicesFile());
  const services = demoServices(settings);
  const tokens = tokensOf(settings);
  const names = serviceNames(settings);
  const started: { close(): Promise<void> }[] = [];
  try {
    const bot = await startDemoBot({
      signingSecret: tokens.services[services.bot.identification]!.signingSecret ?? '',
      agentService: services.agent.identification,
      out,
      names,
    });
    started.push(bot);
    const agent = await startDemoAgent({
      signingSecret: tokens.services[services.agent.identification]!.signingSecret ?? '',
      out,
      names,
    });
    started.push(agent);
    const stack = await startLocalStack({
      ...stackOptions,
      settings,
      downstreamUrls: {
        ...stackOptions.downstreamUrls,
        [services.bot.identification]: bot.url,
        [services.agent.identification]: agent.url,
      },
    });
    started.push(stack);
    if (!stack.parley)
      throw new Error('The demo needs the Parley simulator (unset PARLEY_API_URL).');
    if (!stack.tokens.auditor) throw new Error('The services file has no auditor for the demo.');
    agent.connect(stack.url, stack.tokens.services[services.agent.identification]!.apiToken);
    const env: DemoEnvironment = {
      url: stack.url,
      simulatorUrl: stack.parley.url,
      auditorToken: stack.tokens.auditor.token,
      ...services,
      deskIdleSeconds: deskIdleSeconds(settings, services.agent.identification),
    };
    const all = [...started];
    return {
      env,
      stack,
      close: async () => {
        for (const s of all.reverse()) await s.close();
      },
    };
  } catch (err) {
    for (const s of started.reverse()) await s.close().catch(() => undefined);
    throw err;
  }
};

export interface TimelineEntry {
  /** ISO instant. */
  at: string;
  /** `user 20`, a service name, or `handover`. */
  who: string;
  text: string;
}

export interface DemoReport {
  userId: string;
  timeline: TimelineEntry[];
  /** The user's history, oldest first. */
  handovers: HandoverRecord[];
  /** `GET /handovers?from&to&reason=question_too_complex` over the demo's time span. */
  tooComplex: HandoverRecord[];
  /** The second act: a user whose lease with the desk ran out (null when not played). */
  idle: IdleReport | null;
}

/** The user's lines of the story, and what each waits for before the next one. */
export const DEMO_SCRIPT = [
  { text: 'Hi! What are your opening hours?', waitFor: 'bot-reply' },
  { text: 'I was charged twice for my last order. Can you fix that?', waitFor: 'agent-reply' },
  { text: 'Great, thank you. Bye!', waitFor: 'handback' },
] as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`The demo gave up waiting for ${what}.`);
    await sleep(50);
  }
};

const clockTime = (iso: string) => iso.slice(11, 23);

/** Plays the script against a running stack; `out` gets the printed lines. */
export const playDemo = async (
  env: DemoEnvironment,
  options: {
    userId?: string;
    out?: (line: string) => void;
    timeoutMs?: number;
    /** The second act (a lease running out). @default true, when the desk's lease is short */
    leaseAct?: boolean;
  } = {},
): Promise<DemoReport> => {
  const out = options.out ?? (() => undefined);
  const timeoutMs = options.timeoutMs ?? 20_000;
  const api = createApiClient({ url: env.url, token: env.auditorToken });
  const sim = createApiClient({ url: `${env.simulatorUrl}/_sim` });
  const names = new Map([
    [env.bot.identification, env.bot.name],
    [env.agent.identification, env.agent.name],
  ]);
  const nameOf = (id: string | null) => (id ? (names.get(id) ?? id) : 'nobody');

  // The seed's user 20, unless an earlier run already told its story on this stack.
  let userId = options.userId ?? '20';
  if (!options.userId) {
    const earlier = await api.call<{ handovers: unknown[] }>('GET', '/users/20/handovers?limit=1');
    if (earlier.handovers.length > 0) userId = `demo-${Date.now().toString(36)}`;
  }
  const u = encodeURIComponent(userId);
  const messages = () =>
    sim.call<{ from: string; text: string; at: string }[]>('GET', `/users/${u}/messages`);
  const history = async () =>
    (await api.call<{ handovers: HandoverRecord[] }>('GET', `/users/${u}/handovers`)).handovers;
  const from = (id: string) => async () => (await messages()).filter((m) => m.from === id).length;

  const started = new Date().toISOString();
  const said: TimelineEntry[] = [];
  out(`Playing the demo as user ${userId} (Parley simulator: ${env.simulatorUrl})`);
  // The second act starts first, so the desk's lease runs while the seed's story plays.
  const idleAct = await beginLeaseAct(env, api, sim, userId, options, out, timeoutMs);
  for (const line of DEMO_SCRIPT) {
    const botBefore = await from(env.bot.identification)();
    const agentBefore = await from(env.agent.identification)();
    said.push({ at: new Date().toISOString(), who: `user ${userId}`, text: line.text });
    out(`  user ${userId}: ${line.text}`);
    await sim.call('POST', `/users/${u}/messages`, { body: { text: line.text } });
    if (line.waitFor === 'bot-reply') {
      await waitFor(
        `${env.bot.name}'s answer`,
        async () => (await from(env.bot.identification)()) > botBefore,
        timeoutMs,
      );
    } else if (line.waitFor === 'agent-reply') {
      await waitFor(
        `the handover to ${env.agent.name} and its answer`,
        async () => (await from(env.agent.identification)()) > agentBefore,
        timeoutMs,
      );
    } else {
      await waitFor(
        `the handback to ${env.bot.name}`,
        async () => {
          const records = await history();
          return records.some(
            (r) => r.fromOwner === env.agent.identification && r.status === 'completed',
          );
        },
        timeoutMs,
      );
    }
  }

  const records = (await history()).reverse();
  const timeline: TimelineEntry[] = [
    ...said,
    ...(await messages()).map((m) => ({ at: m.at, who: nameOf(m.from), text: m.text })),
    ...records.map((r) => ({
      at: r.createdAt,
      who: 'handover',
      text: `${nameOf(r.fromOwner)} -> ${nameOf(r.toOwner)} (${r.reason ?? 'no reason'}, ${r.source}, ${r.status})`,
    })),
  ].sort((a, b) => a.at.localeCompare(b.at));

  const ended = new Date(Date.now() + 1000).toISOString();
  const range = await api.call<{ handovers: HandoverRecord[] }>(
    'GET',
    `/handovers?from=${encodeURIComponent(started)}&to=${encodeURIComponent(ended)}&reason=question_too_complex`,
  );
  const tooComplex = range.handovers.filter((r) => r.userId === userId);

  out('');
  out(`Timeline of user ${userId}`);
  const width = Math.max(...timeline.map((e) => e.who.length));
  for (const e of timeline) {
    const who = e.who === 'handover' ? '-- handover'.padEnd(width) : e.who.padEnd(width);
    out(`  ${clockTime(e.at)}  ${who}  ${e.text}`);
  }
  out('');
  out(`Audit: GET /users/${userId}/handovers`);
  for (const r of records) {
    out(
      `  #${r.seq}  ${r.createdAt}  ${nameOf(r.fromOwner)} -> ${nameOf(r.toOwner)}  reason=${r.reason ?? '-'}  source=${r.source}  status=${r.status}  hash=${r.hash.slice(0, 12)}`,
    );
  }
  out('');
  out('Audit: GET /handovers?from=...&to=...&reason=question_too_complex');
  out(
    `  ${tooComplex.length} handover(s) for reason question_too_complex: ${tooComplex
      .map((r) => `${nameOf(r.fromOwner)} -> ${nameOf(r.toOwner)} at ${r.createdAt}`)
      .join('; ')}`,
  );
  const idle = idleAct ? await idleAct.finish() : null;
  return { userId, timeline, handovers: records, tooComplex, idle };
};

/**
 * The second act, when the desk's lease is short enough to wait out: another user (21 on a fresh
 * stack) asks for a human, and the desk leaves them alone until the lease runs out.
 */
const beginLeaseAct = async (
  env: DemoEnvironment,
  api: ReturnType<typeof createApiClient>,
  sim: ReturnType<typeof createApiClient>,
  userId: string,
  options: { userId?: string; leaseAct?: boolean },
  out: (line: string) => void,
  timeoutMs: number,
) => {
  const idleSeconds = env.deskIdleSeconds ?? null;
  if (options.leaseAct === false || idleSeconds === null) return null;
  if (idleSeconds > MAX_DEMO_IDLE_SECONDS) {
    out(
      `  (${env.agent.name}'s lease gives a user back after ${idleSeconds} s of silence: too long ` +
        'for the demo to wait; "npm run demo" on its own stack shows it in seconds.)',
    );
    return null;
  }
  let idleUser = `${userId}-idle`;
  if (userId === '20' && !options.userId) {
    const earlier = await api.call<{ handovers: unknown[] }>('GET', '/users/21/handovers?limit=1');
    if (earlier.handovers.length === 0) idleUser = '21';
  }
  return startIdleAct(idleUser, {
    api,
    sim,
    bot: env.bot,
    agent: env.agent,
    idleSeconds,
    out,
    timeoutMs,
  });
};

/** Keeps the stack's warnings to show them if the demo fails. */
const collectingLog = (): Log & { lines: string[] } => {
  const lines: string[] = [];
  const keep = (level: string) => (message: string, attributes?: LogAttributes) => {
    lines.push(`${level} ${message}${attributes ? ` ${JSON.stringify(attributes)}` : ''}`);
  };
  return { lines, debug() {}, info() {}, warn: keep('WARN'), error: keep('ERROR') };
};

const HELP = `Usage: npm run demo [-- --help]

Plays the seed's story end to end: user 20 asks the bot a question, then one it cannot answer;
the bot hands the user to the Agent Service; the agent answers and, on "bye", hands the user back.
Meanwhile user 21 asks for a human and then says nothing: the desk lets the lease run out and the
user is back with the bot. Prints the conversations as timelines and the audit queries' answers.

Uses the running "npm start" when the demo bot and desk are attached to it (they are with the
services file it generates, or with --demo); otherwise says so, starts a throwaway stack of its
own (in memory, free ports, the desk's lease 10 s) and stops it at the end. A desk lease longer
than ${MAX_DEMO_IDLE_SECONDS} s is not waited out.`;

export const main = async (argv: string[]): Promise<number> => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(HELP);
    return 0;
  }
  if (argv.length > 0) {
    console.error(`Unknown argument ${argv[0]}. Try --help.`);
    return 2;
  }
  const log = collectingLog();
  let own: DemoStack | null = null;
  try {
    let env: DemoEnvironment;
    const running = readRunInfo();
    if (running?.demo && running.simulatorUrl) {
      const settings = readServicesFile(running.servicesFile);
      if (!settings.auditors[0]) throw new Error('The services file has no auditor for the demo.');
      env = {
        url: running.url,
        simulatorUrl: running.simulatorUrl,
        auditorToken: settings.auditors[0].token,
        ...demoServices(settings),
        deskIdleSeconds: deskIdleSeconds(settings, demoServices(settings).agent.identification),
      };
      console.log(`Using the running stack at ${env.url}.`);
    } else {
      // Playing on a stack without the bot and desk would hear nothing: say why another one starts.
      if (running) {
        console.log(
          running.simulatorUrl
            ? `The stack running at ${running.url} has no demo bot and desk attached ("npm start -- --demo" attaches them): the demo starts a throwaway stack of its own.`
            : `The stack running at ${running.url} talks to a real Parley: the demo starts a throwaway stack with the simulator.`,
        );
      }
      // Its bot and desk print the notifications they get as the story plays.
      // The desk's shortest lease and a sweep every second: the second act takes seconds.
      own = await startDemoStack({
        log,
        reconcileIntervalMs: 0,
        sweepIntervalMs: 1000,
        settings: parseServicesFile(generateDemoServicesFile()),
        out: (line) => console.log(line),
      });
      env = own.env;
      console.log(`Started a throwaway local stack at ${env.url}.`);
    }
    await playDemo(env, { out: (line) => console.log(line) });
    return 0;
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    if (log.lines.length) console.error(log.lines.slice(-20).join('\n'));
    return 1;
  } finally {
    await own?.close();
  }
};

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
