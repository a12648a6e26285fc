// Leases end to end on the local stack (issue 15): the desk holds a lease of 10 s idle with a
// warning 5 s before; the sweep runs on its timer every 500 ms; the stack's clock is moved on in
// steps of 2 s (no sleeps: each step waits for the sweep runs and the messages it causes). A user
// escalated to the desk and left alone goes back to the default Service by itself: one `timeout`
// record, one PUT owner for it in the simulator's own log, `lease.expiring` once and
// `lease.expired` once at the desk. A user who writes every step stays with the desk. Every
// function runs under its role's grants; the figures printed are counted from the logs and tables.
import { AGENT_SERVICE_ID as AGENT, BOT_SERVICE_ID as BOT } from '../../local/stack';
import { denials } from '../support/iam';
import { reportFigures } from '../support/reliability';
import { startTimersStack, type TimersStack } from '../support/timers-stack';
import { eventually, http as call } from './support';

const IDLE = 'lease-idle';
const ACTIVE = 'lease-active';
const STEP_MS = 2_000;
const STEPS = 9;

describe('leases on the local stack', () => {
  let world: TimersStack;
  const item = async (userId: string) => (await world.stack.deps.state.getOwner(userId))!;

  beforeAll(async () => {
    world = await startTimersStack({
      service: (s) => {
        if (s.serviceIdentification === AGENT) s.lease = { idleSeconds: 10, warnBeforeSeconds: 5 };
      },
      stack: { sweepIntervalMs: 500 },
    });
  }, 60_000);

  afterAll(async () => {
    await world?.close();
    expect(denials).toEqual([]);
  });

  it('sends an idle user back to the default Service by itself, and keeps an active one', async () => {
    const { stack, clock, tokens, heard, log, sweeps, records, told: expected } = world;
    for (const userId of [IDLE, ACTIVE]) {
      const res = await call(`${stack.url}/handovers`, {
        token: tokens.services[BOT]!.apiToken,
        body: { userId, newOwner: AGENT, metadata: { reason: 'user_requested_human' } },
      });
      expect(res.status).toBe(200);
    }
    const started = (await item(IDLE)).lease!;
    expect(Date.parse(started.expiresAt) - Date.parse(started.lastUserAt)).toBe(10_000);

    for (let step = 1; step <= STEPS; step++) {
      clock.advance(STEP_MS);
      // The active user writes; its message is processed for the desk, which resets the lease.
      const before = (await item(ACTIVE)).lease!.lastUserAt;
      await stack.parley!.sendUserMessage(ACTIVE, `still here (${step})`);
      await eventually('the message reset the lease', async () =>
        (await item(ACTIVE)).lease!.lastUserAt > before ? true : undefined,
      );
      // Two sweep runs begun after the step: at least one saw the whole step's clock.
      const runs = sweeps();
      await eventually('two sweeps after the step', () => sweeps() >= runs + 2, 15_000);
    }

    await eventually('the idle user back with the bot', () =>
      stack.parley!.ownerOf(IDLE) === BOT ? true : undefined,
    );
    await eventually(
      'the desk and the bot heard of the expiry',
      () => expected('lease.expired', AGENT, IDLE) > 0 && expected('lease.expired', BOT, IDLE) > 0,
    );

    // The idle user: one timeout record, one PUT owner for it, the desk warned once.
    const idleRecords = await records(IDLE);
    expect(idleRecords.map((r) => [r.source, r.fromOwner, r.toOwner, r.status])).toEqual([
      ['api', BOT, AGENT, 'completed'],
      ['timeout', AGENT, BOT, 'completed'],
    ]);
    expect(idleRecords[1]).toMatchObject({
      reason: 'lease_expired',
      requestedBy: 'system:lease',
      metadata: { reason: 'lease_expired', idleSeconds: 10 },
    });
    const changes = stack.parley!.log().filter((e) => e.kind === 'change' && e.userId === IDLE);
    expect(changes.map((e) => e.kind === 'change' && [e.from, e.to, e.by])).toEqual([
      [BOT, AGENT, BOT],
      [AGENT, BOT, AGENT],
    ]);
    expect(expected('lease.expiring', AGENT, IDLE)).toBe(1);
    expect(expected('lease.expired', AGENT, IDLE)).toBe(1);
    expect(expected('lease.expired', BOT, IDLE)).toBe(1);
    expect((await item(IDLE)).lease).toBeUndefined();

    // The active user: still the desk's, no timeout, nothing expired.
    expect(stack.parley!.ownerOf(ACTIVE)).toBe(AGENT);
    expect((await records(ACTIVE)).map((r) => r.source)).toEqual(['api']);
    expect(heard.filter((h) => h.userId === ACTIVE && h.type === 'lease.expired')).toEqual([]);

    const summaries = log.lines.filter((l) => l.message === 'sweep');
    reportFigures(
      'lease',
      {
        sweeps: summaries.length,
        sweepActed: summaries.reduce((n, l) => n + Number(l.attributes?.acted ?? 0), 0),
        sweepLostRaces: summaries.reduce((n, l) => n + Number(l.attributes?.lostRace ?? 0), 0),
        timeoutRecords: idleRecords.filter((r) => r.source === 'timeout').length,
        putOwnerForExpiry: changes.length - 1,
        deskWarnings: expected('lease.expiring', AGENT, IDLE),
        deskExpiries: expected('lease.expired', AGENT, IDLE),
        activeUserMoves: (await records(ACTIVE)).length - 1,
      },
      {
        drives: `the local stack with the sweep every 500 ms, the clock moved ${STEPS} x ${STEP_MS / 1000} s; a desk lease of 10 s idle, warning 5 s before`,
        proved:
          'an idle user went back to the bot by itself with one record and one PUT owner, the desk warned once and told once; an active user stayed',
      },
    );
  }, 120_000);
});
