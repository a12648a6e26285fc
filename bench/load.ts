// The load generator: a separate process (forked by the bench with an IPC channel) that drives the
// local gateway over HTTP at a fixed concurrency. It receives a plan, runs a warm-up, then the
// measured rounds, with the arms (subjects and their floors) interleaved: every worker sends one
// request of each arm per round, starting at a rotating arm so no arm always goes first. It sends
// back each arm's latencies and statuses, then exits on its own. An arm may send an unmeasured
// set-up request before its measured one (the hand-back first moves its user to the desk).
import http from 'node:http';
import { callbackJson, messageCallback } from '../local/parley-sim/callback-body';

export type ArmKind =
  | 'webhook'
  | 'floorPut'
  | 'handover'
  | 'floorHandover'
  | 'floorHandoverCalls'
  | 'handBack'
  | 'get';

export interface ArmSpec {
  name: string;
  kind: ArmKind;
  /** webhook: the service id and its callback token. */
  serviceId?: string;
  token?: string;
  /** handover / floorHandover: the services the users move between, and their api tokens. */
  ring?: { first: string; a: string; b: string; tokens: Record<string, string> };
  /**
   * The tag of the worker's user id (default: the kind). Two phases of a run that use one kind
   * set it apart: a user's owner is carried from arm to arm only within a phase.
   */
  user?: string;
  /** handBack: the bot the user goes back to, the desk it comes from, their api tokens. */
  pair?: { bot: string; agent: string; tokens: Record<string, string> };
  /** get: the path (with `{worker}` replaced by the worker's index) and the Authorization value. */
  path?: string;
  authorization?: string;
}

export interface LoadPlan {
  url: string;
  concurrency: number;
  warmupRounds: number;
  /** Measured samples per arm (rounded up to whole rounds per worker). */
  samples: number;
  arms: ArmSpec[];
  /** Prefix of the user ids, unique per run. */
  runId: string;
}

export interface ArmResult {
  name: string;
  latenciesMs: number[];
  /** Statuses of the measured requests. */
  statuses: Record<string, number>;
  /** Measured requests answered outside 2xx, plus failed set-up requests. */
  errors: number;
  /** Statuses of the unmeasured set-up requests, for arms that send them. */
  setupStatuses?: Record<string, number>;
}

export interface LoadResult {
  concurrency: number;
  arms: ArmResult[];
  wallMs: number;
  requestsPerSecond: number;
}

export interface Request {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** The user a worker's arm moves (one per arm kind and worker). */
export const armUserId = (spec: ArmSpec, worker: number, runId: string) =>
  `${runId}-${spec.user ?? spec.kind}-w${worker}`;

const handoverRequest = (token: string | undefined, userId: string, newOwner: string): Request => ({
  method: 'POST',
  path: '/handovers',
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  body: JSON.stringify({ userId, newOwner }),
});

interface Setup {
  request: Request;
  done(status: number): void;
}

/** One worker's request factory per arm (handover arms keep the owner of the worker's user). */
const makeArm = (spec: ArmSpec, worker: number, runId: string) => {
  let n = 0;
  let owner = spec.ring?.first ?? spec.pair?.bot ?? '';
  const user = armUserId(spec, worker, runId);
  const next = (): Request => {
    n += 1;
    switch (spec.kind) {
      case 'webhook': {
        const id = `${runId}-w${worker}-${n}`;
        return {
          method: 'POST',
          path: `/webhooks/parley/${spec.serviceId}`,
          headers: { authorization: `Bearer ${spec.token}`, 'content-type': 'application/json' },
          body: callbackJson(
            messageCallback({ userId: `${runId}-u${worker}`, id, text: 'hello there' }),
          ),
        };
      }
      case 'floorPut':
        return {
          method: 'POST',
          path: '/bench/floor/put',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        };
      case 'handover':
      case 'floorHandover':
      case 'floorHandoverCalls': {
        const ring = spec.ring!;
        const to = owner === ring.a ? ring.b : ring.a;
        const body = { userId: user, newOwner: to };
        return spec.kind === 'handover'
          ? {
              method: 'POST',
              path: '/handovers',
              headers: {
                authorization: `Bearer ${ring.tokens[owner]}`,
                'content-type': 'application/json',
              },
              body: JSON.stringify(body),
            }
          : {
              method: 'POST',
              path:
                spec.kind === 'floorHandover'
                  ? '/bench/floor/handover'
                  : '/bench/floor/handover-calls',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ ...body, as: owner }),
            };
      }
      case 'handBack': {
        const pair = spec.pair!;
        return handoverRequest(pair.tokens[pair.agent], user, pair.bot);
      }
      case 'get':
        return {
          method: 'GET',
          path: spec.path!.replace('{worker}', String(worker)),
          headers: spec.authorization ? { authorization: spec.authorization } : {},
        };
    }
  };
  // The hand-back is measured from the desk only: the move to the desk before it is not.
  const setup = (): Setup | undefined => {
    const pair = spec.pair;
    if (spec.kind !== 'handBack' || !pair || owner === pair.agent) return undefined;
    return {
      request: handoverRequest(pair.tokens[pair.bot], user, pair.agent),
      done: (status) => {
        if (status === 200) owner = pair.agent;
      },
    };
  };
  const done = (status: number) => {
    if (status !== 200) return;
    if (spec.ring) {
      const ring = spec.ring!;
      owner = owner === ring.a ? ring.b : ring.a;
    } else if (spec.pair) {
      owner = spec.pair.bot;
    }
  };
  return { next, done, setup };
};

export const send = (agent: http.Agent, base: URL, req: Request): Promise<number> =>
  new Promise((resolve, reject) => {
    const r = http.request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method: req.method,
        path: req.path,
        headers: req.body
          ? { ...req.headers, 'content-length': Buffer.byteLength(req.body) }
          : req.headers,
      },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    r.end(req.body);
  });

export const runLoad = async (plan: LoadPlan): Promise<LoadResult> => {
  const base = new URL(plan.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: plan.concurrency });
  const results: ArmResult[] = plan.arms.map((a) => ({
    name: a.name,
    latenciesMs: [],
    statuses: {},
    errors: 0,
  }));
  const rounds = Math.ceil(plan.samples / plan.concurrency);
  const worker = async (
    w: number,
    measure: boolean,
    count: number,
    arms: ReturnType<typeof makeArm>[],
  ) => {
    for (let round = 0; round < count; round += 1) {
      for (let i = 0; i < arms.length; i += 1) {
        const index = (round + w + i) % arms.length;
        const arm = arms[index]!;
        const result = results[index]!;
        const setup = arm.setup();
        if (setup) {
          const status = await send(agent, base, setup.request).catch(() => 0);
          setup.done(status);
          if (measure) {
            result.setupStatuses ??= {};
            result.setupStatuses[String(status)] = (result.setupStatuses[String(status)] ?? 0) + 1;
            if (status < 200 || status >= 300) result.errors += 1;
          }
        }
        const req = arm.next();
        const started = performance.now();
        let status = 0;
        try {
          status = await send(agent, base, req);
        } catch {
          status = 0;
        }
        const elapsed = performance.now() - started;
        arm.done(status);
        if (!measure) continue;
        result.latenciesMs.push(elapsed);
        result.statuses[String(status)] = (result.statuses[String(status)] ?? 0) + 1;
        if (status < 200 || status >= 300) result.errors += 1;
      }
    }
  };
  const workers = Array.from({ length: plan.concurrency }, (_, w) =>
    plan.arms.map((spec) => makeArm(spec, w, plan.runId)),
  );
  await Promise.all(workers.map((arms, w) => worker(w, false, plan.warmupRounds, arms)));
  const started = performance.now();
  await Promise.all(workers.map((arms, w) => worker(w, true, rounds, arms)));
  const wallMs = performance.now() - started;
  agent.destroy();
  // Every request sent in the measured rounds, set-up requests included.
  const total = results.reduce(
    (sum, r) =>
      sum + r.latenciesMs.length + Object.values(r.setupStatuses ?? {}).reduce((a, b) => a + b, 0),
    0,
  );
  return {
    concurrency: plan.concurrency,
    arms: results,
    wallMs,
    requestsPerSecond: total / (wallMs / 1000),
  };
};

// As a child process: one plan in, one result out, then exit.
if (require.main === module && process.send) {
  process.once('message', (plan: LoadPlan) => {
    runLoad(plan).then(
      (result) => process.send!({ ok: true, result }, () => process.exit(0)),
      (err: unknown) => process.send!({ ok: false, error: String(err) }, () => process.exit(1)),
    );
  });
}
