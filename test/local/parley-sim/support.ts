// Helpers of the Parley simulator's tests: simulators on free ports (closed by `closeAll`), Service
// API calls signed by PARLEY.md's formula computed independently of the simulator's own check, the
// control API, and callback receivers over real HTTP.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { readBody } from '../../../local/http/body';
import {
  BOT_SERVICE_ID,
  type ParleySimulator,
  type SimLogEntry,
  type SimulatorOptions,
  seedFixture,
  startParleySimulator,
} from '../../../local/parley-sim';

export const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'fixtures', name), 'utf8'));

export const seed = seedFixture();
const secretOf = (id: string) => seed.services.find((s) => s.identification === id)!.sharedSecret;
const ACCOUNT = seed.accountIdentification;

/** PARLEY.md's formula, computed here independently of the simulator's own check. */
export function authorization(
  serviceId: string,
  options: { secret?: string; account?: string; validUntil?: number } = {},
): string {
  const validUntil = options.validUntil ?? Math.floor(Date.now() / 1000) + 300;
  const account = options.account ?? ACCOUNT;
  const hash = createHmac('sha512', options.secret ?? secretOf(serviceId))
    .update(`${serviceId}${account}${validUntil}`)
    .digest('hex');
  return Buffer.from(`${serviceId}|${account}|${validUntil}|${hash}`, 'utf8').toString('base64');
}

const started: ParleySimulator[] = [];
const receivers: http.Server[] = [];

export async function start(options: SimulatorOptions = {}): Promise<ParleySimulator> {
  const sim = await startParleySimulator({ port: 0, callbackRetryDelayMs: 5, ...options });
  started.push(sim);
  return sim;
}

/** Closes every simulator and receiver a test file started (its afterAll). */
export async function closeAll(): Promise<void> {
  await Promise.all(started.map((s) => s.close()));
  for (const r of receivers) r.closeAllConnections();
  await Promise.all(receivers.map((r) => new Promise((resolve) => r.close(resolve))));
}

interface Call {
  status: number;
  body: unknown;
  headers: Headers;
}

export async function call(
  sim: ParleySimulator,
  method: string,
  relPath: string,
  options: {
    as?: string | null;
    body?: unknown;
    rawBody?: string;
    auth?: string;
    headers?: Record<string, string>;
    signal?: AbortSignal;
  } = {},
): Promise<Call> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...options.headers,
  };
  const as = options.as === undefined ? BOT_SERVICE_ID : options.as;
  if (options.auth !== undefined) headers.authorization = options.auth;
  else if (as !== null) headers.authorization = authorization(as);
  const body =
    options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  const res = await fetch(`${sim.baseUrl}/${relPath}`, {
    method,
    headers,
    body,
    signal: options.signal,
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

export async function control(
  sim: ParleySimulator,
  method: string,
  relPath: string,
  body?: unknown,
) {
  const res = await fetch(`${sim.url}/_sim/${relPath}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as unknown };
}

export const errorEnvelope = (message: string) => ({
  notifications: [{ type: 'error', message }],
  status: 'ERROR',
  metadata: { method: expect.any(String), duration: expect.any(Number) },
});

/** A callback receiver that answers the scripted statuses in turn (then 200). */
export async function receiver(statuses: number[] = []) {
  const received: { headers: http.IncomingHttpHeaders; body: unknown }[] = [];
  const server = http.createServer(async (req, res) => {
    const body = await readBody(req, { limit: 1024 * 1024 });
    received.push({ headers: req.headers, body: JSON.parse(body.bytes.toString('utf8')) });
    res.writeHead(statuses.shift() ?? 200).end();
  });
  receivers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/webhook`, received };
}

/** The log entries of one kind, typed. */
export const entriesOf = <K extends SimLogEntry['kind']>(sim: ParleySimulator, kind: K) =>
  sim.log().filter((e): e is Extract<SimLogEntry, { kind: K }> => e.kind === kind);

/** Milliseconds between two logged ISO instants. */
export const between = (from: string, to: string) => Date.parse(to) - Date.parse(from);

export async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
}
