// The Parley simulator: a node:http server with two surfaces, the Service API (api.ts: the subset
// of docs/PARLEY.md the service calls, with HMAC auth, owner rules, faults and latency) and the
// control API under /_sim/ (control.ts: the user's side and the test harness), over the state in
// state.ts. This file starts and stops it and hands out the in-process handle.
import http from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { readBody } from '../http/body';
import { errorBody } from '../http/json';
import { createServiceApi, normaliseBasePath } from './api';
import { envelopeError } from './envelope';
import { createUserSide } from './callbacks';
import { createControlApi } from './control';
import { FaultEngine, LatencyEngine, parseFaultRules, parseLatencyRules } from './faults';
import { cloneSeed, parseSeed, seedFixture } from './seed';
import { createSimState } from './state';
import type { FaultRule, LatencyRule, ParleySimulator, SimulatorOptions } from './types';
import { MAX_BODY_BYTES, send, splitPath } from './wire';

function safePathname(rawUrl: string | undefined): string | null {
  try {
    return new URL(rawUrl ?? '/', 'http://sim.invalid').pathname;
  } catch {
    return null;
  }
}

/** Starts a simulator; `close()` it when done. */
export async function startParleySimulator(
  options: SimulatorOptions = {},
): Promise<ParleySimulator> {
  const seed = parseSeed(cloneSeed(options.seed ?? seedFixture()));
  const apiVersion = options.apiVersion ?? '20500';
  const basePath = normaliseBasePath(options.basePath ?? '/serviceApi/v2.5');
  const faults = new FaultEngine(parseFaultRules(options.faults ?? []), options.randomSeed ?? 1);
  const latency = new LatencyEngine(
    parseLatencyRules(options.latency ?? []),
    options.latencySeed ?? 1,
  );
  const state = createSimState(seed, options.now ?? Date.now);
  const users = createUserSide(state, {
    retryDelayMs: options.callbackRetryDelayMs ?? 200,
    firstMessageId: options.firstMessageId,
  });
  const serviceApi = createServiceApi(state, { basePath, apiVersion, faults, latency });
  const controlApi = createControlApi(state, { apiVersion, faults, latency, users });
  const sockets = new Set<Socket>();

  const server = http.createServer((req, res) => {
    const started = performance.now();
    readBody(req, { limit: MAX_BODY_BYTES })
      .then(async (body) => {
        if (state.closed) return;
        const pathname = safePathname(req.url);
        if (pathname === null) {
          send(res, 400, envelopeError(req.method ?? 'GET', started, 'invalid_url'), apiVersion);
          return;
        }
        if (pathname.startsWith('/_sim/')) {
          const segments = splitPath(pathname.slice('/_sim/'.length));
          if (segments === null) {
            send(res, 400, errorBody('invalid_url', 'Bad path.'), apiVersion);
            return;
          }
          await controlApi(req, res, segments, body.tooLarge ? '' : body.bytes.toString('utf8'));
          return;
        }
        await serviceApi(req, res, pathname, body, started);
      })
      .catch(() => {
        send(
          res,
          500,
          envelopeError(req.method ?? 'GET', started, 'internal_server_error'),
          apiVersion,
        );
      });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new Error('The simulator could not determine its listening address.');
  }
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  return {
    url,
    baseUrl: url + basePath,
    seed,
    log: () => state.entries().map((e) => structuredClone(e)),
    clearLog: () => state.clearLog(),
    setFaults: (rules: FaultRule[]) => faults.set(parseFaultRules(rules)),
    setLatency: (rules: LatencyRule[]) => latency.set(parseLatencyRules(rules)),
    latency: () => latency.rulesInEffect(),
    inFlight: () => [...state.calls].map((c) => ({ ...c })),
    ownerOf: state.ownerOf,
    setOwner: state.setOwner,
    setCallback: state.setCallback,
    sendUserMessage: users.sendUserMessage,
    sendUserEvent: users.sendUserEvent,
    messagesTo: state.messagesTo,
    close: async () => {
      if (state.closed) return;
      state.close();
      users.abortAll();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      await done;
    },
  };
}
