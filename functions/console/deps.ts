// The console's shapes: the request it reads (from an API Gateway event, by the handler), the
// answer it gives, and what it works through. The use cases come bound (functions/console/
// wiring.ts), so pages and actions are plain functions that tests drive with small fakes.
import type { HandoverInput, HandoverResult, OwnerView } from '../domain/handover/deps';
import type {
  Caller,
  Clock,
  HistoryStore,
  Log,
  NotificationStore,
  QueueDepths,
  ServiceCatalog,
  StateStore,
} from '../domain/ports';
import type { MetricsAnswer, MetricsQuery } from '../domain/metrics/rollup';
import type { StuckAnswer } from '../domain/metrics/stuck';
import type { VerifyReport } from '../domain/verify';
import type { ConsoleStore } from './ports';

export interface ConsoleRequest {
  method: 'GET' | 'HEAD' | 'POST';
  /** The route's path template, e.g. `/console/users/{userId}`. */
  route: string;
  /** The path and query as requested (where a login returns to). */
  path: string;
  params: Readonly<Record<string, string | undefined>>;
  query: Readonly<Record<string, string | undefined>>;
  /** A request header by lower-case name. */
  header(name: string): string | undefined;
  /** `name=value` strings, as API Gateway passes them. */
  cookies: readonly string[];
  /** The raw body (a form, url-encoded). */
  body: string;
  sourceIp: string;
}

export interface ConsoleResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  cookies?: string[];
}

export interface ConsoleDeps {
  store: ConsoleStore;
  /** Who a token belongs to (the API's authenticator: sha256 index, constant-time compare). */
  callerOf(token: string): Promise<Caller>;
  history: HistoryStore;
  state: StateStore;
  notifications: NotificationStore;
  catalog: ServiceCatalog;
  /** The verify use case (reads only; against the newest checkpoint where checkpoints are kept). */
  verify(userId: string): Promise<VerifyReport>;
  /** The metrics route's use case (GET /metrics): days of figures, rollups where stored. */
  metrics(query: MetricsQuery): Promise<MetricsAnswer>;
  /** The stuck owners' use case (GET /metrics/stuck). */
  stuckOwners(): Promise<StuckAnswer>;
  /** The owner now, from Parley (as an auditor reads it: the default Service's credentials). */
  ownerNow(userId: string): Promise<OwnerView>;
  /** The owner at an instant, from the history. */
  ownerAt(
    userId: string,
    instant: string,
  ): Promise<{ owner: OwnerView | null; known: boolean; since?: string }>;
  /** The reconcile use case for one user (recovers a stale pending handover). */
  reconcileUser(userId: string): Promise<{ recovered: number; failed: { code: string }[] }>;
  /** The handover use case. */
  handover(input: HandoverInput): Promise<HandoverResult>;
  /** The dead-letter queues' depths; without it the overview shows a marked slot. */
  queueDepths?: QueueDepths;
  clock: Clock;
  log: Log;
  /** A pending marker older than this is stale (reconcile recovers it). */
  staleAfterMs: number;
  /** @default 32 random bytes, base64url */
  newSessionId?: () => string;
}

/** Who is looking at a page, and the token its forms carry. */
export interface Viewer {
  name: string;
  role: 'auditor' | 'operator';
  csrf: string;
}
