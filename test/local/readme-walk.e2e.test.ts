// A newcomer's walk through the README: `npm start` (as the quick start says), the variables from
// its banner, then every curl of the quick start and HTTP API sections, read from README.md itself
// and run in order, so the README and the service cannot drift apart. The quick start's failover
// walk is then held against what happened: the history, the simulator's own log and messages, and
// the lines the demo desk and bot printed, which must be the ones the README shows.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HandoverRecord } from '../../functions/domain/types';
import { AGENT_SERVICE_ID as AGENT, BOT_SERVICE_ID as BOT } from '../../local/stack';
import { localPorts, type Started, type StartIo, startFromEnvironment } from '../../local/start';
import { commandLines, parseCurl, runCurl, shellBlocks, shellWords, type Vars } from './curl';
import { eventually, http, tempDir } from './support';

const ROOT = join(__dirname, '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const WALKED = ['Quick start', 'HTTP API', 'Leases and offers'];

const blocks = shellBlocks(README, WALKED);

/** The quick start's failover walk: its commands and the lines it says the terminal shows. */
const failoverWalk = (() => {
  const start = README.indexOf('### A failover, step by step');
  if (start < 0) throw new Error('the README has no failover walk');
  const section = README.slice(start, README.indexOf('\n## ', start));
  const commands = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const printed = /```text\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const user = /\/_sim\/users\/([^/\s]+)\/messages/.exec(commands)?.[1];
  if (!user) throw new Error('the failover walk names no user');
  return { user, printed: printed.trim().split('\n') };
})();
const lines = blocks.flatMap(commandLines);

/**
 * `NAME=$(curl … | jq -r .a.b)`: a value the reader keeps from an answer (an offer's id) for the
 * next examples. Only this form is understood; the walk sets NAME from the answer's JSON.
 */
const CAPTURE = /^([A-Z_][A-Z0-9_]*)=\$\((curl .*?)\s*\|\s*jq -r (\.[A-Za-z_][\w.]*)\)$/;
const curls = lines.filter((l) => l.startsWith('curl ') || CAPTURE.test(l));

/** Lines made only of NAME=value words: the variables the README asks the reader to set. */
const readmeVars = (): Vars => {
  const vars: Vars = {};
  for (const line of lines) {
    if (!/^[A-Z_][A-Z0-9_]*=/.test(line) || CAPTURE.test(line)) continue;
    const words = shellWords(line, { vars: {} });
    if (!words.every((w) => /^[A-Z_][A-Z0-9_]*=/.test(w))) continue;
    for (const w of words) vars[w.slice(0, w.indexOf('='))] = w.slice(w.indexOf('=') + 1);
  }
  return vars;
};

/** The banner's `export NAME=value ...` line. */
const bannerVars = (out: string[]): Vars => {
  const line = out.find((l) => /^ {4}export /.test(l));
  if (!line) throw new Error('the banner has no export line');
  const words = shellWords(line.trim(), { vars: {} }).slice(1);
  return Object.fromEntries(
    words.map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]),
  );
};

describe("the README's walk", () => {
  const dir = tempDir('readme-walk-');
  const out: string[] = [];
  let run: Started;

  beforeAll(async () => {
    // `npm start` as the quick start runs it, with its data in a folder of its own and free ports.
    const io: StartIo = {
      env: { PARLEY_LOCAL_DIR: dir.dir, PORT: '0', PARLEY_SIM_PORT: '0' },
      out: (line) => out.push(line),
      err: () => undefined,
    };
    const started = await startFromEnvironment([], io);
    if (typeof started === 'number') throw new Error(`npm start exited with ${started}`);
    run = started;
  });
  afterAll(async () => {
    await run?.close();
    dir.remove();
  });

  it("defines the variables the examples use in the banner's export line", () => {
    const readme = readmeVars();
    const banner = bannerVars(out);
    const literal = Object.entries(readme).filter(([name, v]) => name !== 'API' && v !== '…');

    expect(Object.keys(banner).sort()).toEqual(Object.keys(readme).sort());
    expect(literal.length).toBeGreaterThan(0);
    for (const [name, value] of literal.filter(([n]) => n !== 'SIM')) {
      expect([name, banner[name]]).toEqual([name, value]);
    }
    expect(readme.API).toBe(`http://localhost:${localPorts({}).api}`);
    expect(banner.API).toBe(`http://localhost:${run.stack.port}`);
    expect(readme.SIM).toBe(`http://localhost:${localPorts({}).simulator}`);
    expect(banner.SIM).toBe(run.stack.parley!.url.replace('127.0.0.1', 'localhost'));
    expect(`${banner.DESK_URL}/`).toBe(
      run.stack.config.services.find((s) => s.role === 'agent')?.downstreamUrl,
    );
  });

  it('answers every curl of the quick start and the HTTP API sections with a 2xx', async () => {
    const vars = bannerVars(out);
    const answers: { curl: string; status: number; body: string }[] = [];

    for (const line of curls) {
      const capture = CAPTURE.exec(line);
      const res = await runCurl(parseCurl(shellWords(capture?.[2] ?? line, { vars })));
      answers.push({ curl: line, status: res.status, body: res.text.slice(0, 300) });
      if (capture) {
        let value: unknown = JSON.parse(res.text);
        for (const key of capture[3]!.slice(1).split('.')) {
          value = (value as Record<string, unknown> | undefined)?.[key];
        }
        // jq -r prints null for a missing key: the next example would use it and fail.
        vars[capture[1]!] = typeof value === 'string' ? value : String(value ?? null);
      }
      // A reader pastes one at a time: let the queue settle what the last one started.
      await eventually('the local queue to settle', async () => {
        const stats = await run.stack.queue.stats();
        return stats.visible === 0 && stats.inFlight === 0;
      });
    }

    const statuses = answers.map((a) => a.status);
    console.log(
      `[figures] README walk: ${answers.length} curls answered ${[...new Set(statuses)]
        .map((s) => `${statuses.filter((x) => x === s).length}x ${s}`)
        .join(', ')}`,
    );
    expect(answers.length).toBe(blocks.join('\n').match(/^\s*(curl |[A-Z_]+=\$\(curl )/gm)?.length);
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.status < 200 || a.status > 299)).toEqual([]);
  });

  it("shows the quick start's failover as the README tells it: the record, the printed lines, one agent/unset", async () => {
    const { user, printed } = failoverWalk;
    const vars = bannerVars(out);
    const sim = run.stack.parley!;
    const unsets = () =>
      sim.log().filter((e) => e.kind === 'request' && e.path === `users/${user}/agent/unset`);
    // Notifications and the action come through the notify queue, after the curls' answers.
    await eventually('the lines the README shows', () => printed.every((l) => out.includes(l)));
    await eventually('the agent/unset of the failover', () => unsets().length > 0);
    await eventually('the notify queue to settle', async () => {
      const stats = await run.stack.notifyQueue.stats();
      return stats.visible === 0 && stats.inFlight === 0;
    });

    const history = await http(`${vars.API}/users/${user}/handovers`, {
      token: vars.AUDITOR_TOKEN,
    });
    const records = (history.body.handovers as HandoverRecord[]).map((r) => [
      r.seq,
      r.source,
      r.reason,
      r.fromOwner,
      r.toOwner,
      r.status,
    ]);
    const { items } = await run.stack.deps.notifications.list({ limit: 100 });
    const outbox = items.filter((i) => i.userId === user);
    /** Where a line the README shows was printed (each exactly once, checked below). */
    const at = (line: string) => out.indexOf(line);
    const failures = out.filter((l) => l.includes(`forward for user ${user} answered`));
    console.log(
      `[figures] README failover walk: ${records.length} records (${records.filter((r) => r[1] === 'failover').length} failover), ${failures.length} failed forward(s) to the desk, ${out.filter((l) => l.includes(` user ${user} seq `)).length} notification lines printed, ${unsets().length} agent/unset`,
    );

    expect(records).toEqual([
      [2, 'failover', 'downstream_unavailable', AGENT, BOT, 'completed'],
      [1, 'api', 'failover_walk', BOT, AGENT, 'completed'],
    ]);
    // The bot got the message the desk failed (its line in the README's block, checked below).
    expect(printed).toContain(
      `[demo bot] message of user ${user} (handed over from Agent Service)`,
    );
    expect(printed.map((l) => [l, out.filter((o) => o === l).length])).toEqual(
      printed.map((l) => [l, 1]),
    );
    // What must come in order (the queues may let the rest pass each other): the fault set, the
    // desk failing the forward, the desk told of the failover; and the fault set before cleared.
    const desk = printed.filter((l) => l.startsWith('[demo desk]'));
    const chain = [desk[0]!, desk[1]!, desk.find((l) => l.includes('failover.triggered'))!];
    expect(chain.map(at)).toEqual([...chain.map(at)].sort((a, b) => a - b));
    expect(at(desk[0]!)).toBeLessThan(at('[demo desk] fault mode off'));
    expect(failures).toHaveLength(1);
    expect(unsets().map((e) => (e.kind === 'request' ? [e.caller, e.status] : []))).toEqual([
      [BOT, 200],
    ]);
    expect(
      outbox
        .map((i) => [i.kind, i.type, i.recipient, i.seq, i.status])
        .sort((a, b) => String(a).localeCompare(String(b))),
    ).toEqual(
      [
        ['action', 'parley.agent_unset', BOT, 2, 'sent'],
        ['notification', 'failover.triggered', AGENT, 2, 'sent'],
        ['notification', 'failover.triggered', BOT, 2, 'sent'],
        ['notification', 'handover.completed', AGENT, 1, 'sent'],
        ['notification', 'handover.completed', BOT, 1, 'sent'],
      ].sort((a, b) => String(a).localeCompare(String(b))),
    );
  });

  it('writes no file into the working tree', () => {
    const targets = shellBlocks(
      README,
      [...README.matchAll(/^## (.+)$/gm)].map((m) => m[1]!),
    )
      .flatMap((b) => [...b.matchAll(/(?:^|\s)>\s*("?)([^\s"]+)\1/g)])
      .map((m) => m[2]!);

    expect(targets.filter((t) => !t.startsWith('/') && !t.startsWith('$'))).toEqual([]);
  });
});
