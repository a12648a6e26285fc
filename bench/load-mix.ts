// The load simulation's generator: a child process (forked by bench/load-sim.ts) that drives the
// local gateway with a mix of webhooks and handovers at one concurrency. Each worker sends rounds
// of `webhooksPerRound` webhooks and one handover (its place in the round rotates); the subject
// routes and their floors run in blocks, A B B A, so both see the same drift. Webhooks come from
// many users; each worker hands its own users (no two workers race for one user) between the two
// desks, after priming them once from the bot. Every status is reported, primes and warm-up
// included, so the stores can be held against the answers.
import http from 'node:http';
import { callbackJson, messageCallback } from '../local/parley-sim/callback-body';
import { type Request, send } from './load';

export interface MixPlan {
  url: string;
  concurrency: number;
  runId: string;
  /** Unmeasured mixed rounds before the blocks (counted for the store check). */
  warmupMs: number;
  /** Measured milliseconds of each of the four blocks (subject, floor, floor, subject). */
  blockMs: number;
  webhooksPerRound: number;
  /** Users the webhooks come from. */
  webhookUsers: number;
  usersPerWorker: number;
  webhook: { serviceId: string; token: string };
  ring: { first: string; a: string; b: string; tokens: Record<string, string> };
}

export type MixKind = 'webhook' | 'handover' | 'floorPut' | 'floorHandover';

export interface KindResult {
  latenciesMs: number[];
  statuses: Record<string, number>;
  errors: number;
}

export interface MixResult {
  concurrency: number;
  /** Measured blocks only. */
  measured: Record<MixKind, KindResult>;
  /** Wall time of the subject blocks and of the floor blocks. */
  subjectMs: number;
  floorMs: number;
  /** 200 answers of everything sent, primes and warm-up included. */
  ok: Record<MixKind, number>;
  /** Handover users primed (bot to desk) and floor users primed. */
  primed: { handovers: number; floorHandovers: number };
  /** The generator's own CPU time over the whole plan (ms). */
  cpuMs: number;
}

const emptyKind = (): KindResult => ({ latenciesMs: [], statuses: {}, errors: 0 });

export const runMix = async (plan: MixPlan): Promise<MixResult> => {
  const cpuStart = process.cpuUsage();
  const base = new URL(plan.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: plan.concurrency });
  const measured: Record<MixKind, KindResult> = {
    webhook: emptyKind(),
    handover: emptyKind(),
    floorPut: emptyKind(),
    floorHandover: emptyKind(),
  };
  const ok: Record<MixKind, number> = { webhook: 0, handover: 0, floorPut: 0, floorHandover: 0 };
  const { ring } = plan;
  let seq = 0;
  let seed = 1;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };

  /** A worker's users and who owns each, for the real route and for the floor. */
  const workers = Array.from({ length: plan.concurrency }, (_, w) => ({
    users: Array.from({ length: plan.usersPerWorker }, (_, k) => ({
      id: `${plan.runId}-h${w}-${k}`,
      owner: ring.first,
      floorId: `${plan.runId}-f${w}-${k}`,
      floorOwner: ring.first,
    })),
    next: 0,
  }));

  const request = (kind: MixKind, w: number): { req: Request; done: (s: number) => void } => {
    if (kind === 'webhook' || kind === 'floorPut') {
      seq += 1;
      if (kind === 'floorPut') {
        return {
          req: { method: 'POST', path: '/bench/floor/put', headers: {}, body: '{}' },
          done: () => {},
        };
      }
      const userId = `${plan.runId}-u${Math.floor(rand() * plan.webhookUsers)}`;
      return {
        req: {
          method: 'POST',
          path: `/webhooks/parley/${plan.webhook.serviceId}`,
          headers: {
            authorization: `Bearer ${plan.webhook.token}`,
            'content-type': 'application/json',
          },
          body: callbackJson(
            messageCallback({ userId, id: `${plan.runId}-${w}-${seq}`, text: 'hello there' }),
          ),
        },
        done: () => {},
      };
    }
    const worker = workers[w]!;
    const user = worker.users[worker.next % worker.users.length]!;
    worker.next += 1;
    const floor = kind === 'floorHandover';
    const owner = floor ? user.floorOwner : user.owner;
    const to = owner === ring.a ? ring.b : ring.a;
    const flip = (status: number) => {
      if (status !== 200) return;
      if (floor) user.floorOwner = to;
      else user.owner = to;
    };
    return floor
      ? {
          req: {
            method: 'POST',
            path: '/bench/floor/handover',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ userId: user.floorId, newOwner: to, as: owner }),
          },
          done: flip,
        }
      : {
          req: {
            method: 'POST',
            path: '/handovers',
            headers: {
              authorization: `Bearer ${ring.tokens[owner]}`,
              'content-type': 'application/json',
            },
            body: JSON.stringify({ userId: user.id, newOwner: to }),
          },
          done: flip,
        };
  };

  const one = async (kind: MixKind, w: number, record: boolean) => {
    const { req, done } = request(kind, w);
    const started = performance.now();
    let status = 0;
    try {
      status = await send(agent, base, req);
    } catch {
      status = 0;
    }
    const elapsed = performance.now() - started;
    done(status);
    if (status === 200) ok[kind] += 1;
    if (!record) return;
    const r = measured[kind];
    r.latenciesMs.push(elapsed);
    r.statuses[String(status)] = (r.statuses[String(status)] ?? 0) + 1;
    if (status < 200 || status >= 300) r.errors += 1;
  };

  const round = async (w: number, r: number, floor: boolean, record: boolean) => {
    const size = plan.webhooksPerRound + 1;
    const at = (r + w) % size;
    for (let i = 0; i < size; i += 1) {
      const kind: MixKind =
        i === at ? (floor ? 'floorHandover' : 'handover') : floor ? 'floorPut' : 'webhook';
      await one(kind, w, record);
    }
  };

  const block = async (ms: number, floor: boolean, record: boolean) => {
    const started = performance.now();
    await Promise.all(
      workers.map(async (_, w) => {
        for (let r = 0; performance.now() - started < ms; r += 1) await round(w, r, floor, record);
      }),
    );
    return performance.now() - started;
  };

  // Priming: every handover user once from the bot to a desk, on both routes (not measured).
  await Promise.all(
    workers.map(async (worker, w) => {
      for (let k = 0; k < worker.users.length; k += 1) {
        await one('handover', w, false);
        await one('floorHandover', w, false);
      }
    }),
  );
  const primed = { handovers: ok.handover, floorHandovers: ok.floorHandover };
  await block(plan.warmupMs / 2, false, false);
  await block(plan.warmupMs / 2, true, false);
  let subjectMs = await block(plan.blockMs, false, true);
  let floorMs = await block(plan.blockMs, true, true);
  floorMs += await block(plan.blockMs, true, true);
  subjectMs += await block(plan.blockMs, false, true);
  agent.destroy();
  const cpu = process.cpuUsage(cpuStart);
  return {
    concurrency: plan.concurrency,
    measured,
    subjectMs,
    floorMs,
    ok,
    primed,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
};

if (require.main === module && process.send) {
  process.once('message', (plan: MixPlan) => {
    runMix(plan).then(
      (result) => process.send!({ ok: true, result }, () => process.exit(0)),
      (err: unknown) => process.send!({ ok: false, error: String(err) }, () => process.exit(1)),
    );
  });
}
