// Bulk release (POST /services/{serviceId}/release): an operator hands every user a Service owns
// to the default Service, one handover each, a page at a time and within the call's time, and the
// caller resumes with the cursor it is given. Each move is a history record (`source: operator`,
// `requestedBy: operator:{name}`) made through the handover use case, guarded by the released
// Service as expected owner and by an Idempotency-Key per release and user: a retried or resumed
// call makes no second record.
import { sha256Hex } from './chain';
import {
  AppError,
  CannotReleaseDefaultError,
  NotOwnerError,
  OwnerChangedError,
  ParleyError,
  ValidationError,
} from './errors';
import type { HandoverInput, HandoverResult } from './handover/deps';
import type { Clock, IdGenerator, Log, MetricsSink, ServiceCatalog, StateStore } from './ports';

export interface ReleaseDeps {
  state: Pick<StateStore, 'listOwnedBy'>;
  catalog: ServiceCatalog;
  /** The handover use case (performHandover with its deps). */
  handover: (input: HandoverInput) => Promise<HandoverResult>;
  ids: IdGenerator;
  /** Measures this call's elapsed time. */
  timer: Clock;
  log: Log;
  metrics: MetricsSink;
  /** What this call may spend: the function's timeout less a margin for the answer. */
  budgetMs: number;
  /** The longest one handover may take: a user is started only with this much time left. */
  handoverReserveMs: number;
}

export interface ReleaseInput {
  /** The released Service: identification or name (as the path gives it). */
  service: string;
  /** The operator's name (records say `operator:{name}`). */
  operator: string;
  reason: string;
  dryRun?: boolean;
  /** From the previous answer: resume there. */
  cursor?: string;
  /** Users this call handles at most. */
  limit?: number;
  /** The request's Idempotency-Key: names the release, so a retried first call replays too. */
  releaseKey?: string;
}

export interface ReleaseDryRun {
  serviceId: string;
  dryRun: true;
  /** Users listed as owned by the Service; a lower bound when `complete` is false. */
  count: number;
  /** False when the count stopped at DRY_RUN_MAX_USERS or at the call's time. */
  complete: boolean;
  firstUsers: string[];
}

export interface ReleaseRun {
  serviceId: string;
  dryRun: false;
  moved: number;
  skipped: number;
  failed: { userId: string; code: string }[];
  /** Present while users may be left: call again with it. */
  cursor?: string;
}

/** Users per listing page (each page is read again when a call stops inside it). */
export const RELEASE_PAGE_SIZE = 25;
/** The dry run counts at most this many users. */
export const DRY_RUN_MAX_USERS = 10_000;
const DRY_RUN_PAGE_SIZE = 100;
const FIRST_USERS = 20;
const DEFAULT_LIMIT = 100;

/**
 * Where a release stands: its id (the Idempotency-Keys' stem), the listing cursor of the page it
 * is in, and short digests of that page's users it has already handled and left with the Service
 * (skipped or failed), so a resumed call does not try them again. Moved users leave the index.
 */
interface Position {
  v: 1;
  s: string;
  r: string;
  c?: string;
  x?: string[];
}

const digest = (userId: string): string => sha256Hex(userId).slice(0, 12);

const badCursor = (why: string) =>
  new ValidationError(`The cursor is not valid: ${why}.`, 'invalid_cursor');

const encode = (position: Position): string =>
  Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');

const decode = (cursor: string, serviceId: string): Position => {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badCursor('it is not one this route gave');
  }
  const p = value as Partial<Position> | null;
  const ok =
    p !== null &&
    typeof p === 'object' &&
    p.v === 1 &&
    typeof p.s === 'string' &&
    typeof p.r === 'string' &&
    p.r !== '' &&
    (p.c === undefined || typeof p.c === 'string') &&
    (p.x === undefined ||
      (Array.isArray(p.x) &&
        p.x.length <= RELEASE_PAGE_SIZE &&
        p.x.every((x) => typeof x === 'string')));
  if (!ok) throw badCursor('it is not one this route gave');
  if (p.s !== serviceId) throw badCursor('it belongs to the release of another Service');
  return p as Position;
};

/** The Idempotency-Key of one user's move in one release (bounded, whatever the user id). */
const userKey = (releaseId: string, userId: string): string =>
  `release:${sha256Hex(JSON.stringify([releaseId, userId])).slice(0, 40)}`;

type Outcome =
  | { kind: 'moved' }
  | { kind: 'skipped' }
  | { kind: 'failed'; code: string }
  /** Parley could not say (timeout, 5xx): the marker stays for recovery; stop calling Parley. */
  | { kind: 'unknown'; code: string };

/**
 * Releases a Service's users to the default Service.
 * Input: the Service, the operator, a reason, and dryRun / cursor / limit. Output: a dry run's
 * count and first users, or `{ moved, skipped, failed, cursor? }`.
 * Steps: resolve the Service (the default is refused: 422) -> dry run: count through the byOwner
 * listing, bounded -> else, page by page, each user not yet handled: a handover to the default
 * (expected owner the Service, Idempotency-Key per release and user), while the limit and the
 * time allow another -> an answer with a cursor when users may be left. An unknown Parley outcome
 * ends the call (Parley is struggling); the user is tried again, by its key, when it resumes.
 */
export async function releaseService(
  input: ReleaseInput,
  deps: ReleaseDeps,
): Promise<ReleaseDryRun | ReleaseRun> {
  const started = deps.timer.now();
  const timeLeft = () => deps.budgetMs - (deps.timer.now() - started);
  const service = await deps.catalog.resolve(input.service);
  const fallback = await deps.catalog.resolve('default');
  if (service.identification === fallback.identification) throw new CannotReleaseDefaultError();
  const serviceId = service.identification;
  const position = input.cursor === undefined ? undefined : decode(input.cursor, serviceId);
  if (input.dryRun) return countOwned(serviceId, position?.c, deps, timeLeft);

  const releaseId = position?.r ?? input.releaseKey ?? deps.ids.next();
  const limit = input.limit ?? DEFAULT_LIMIT;
  const requestedBy = `operator:${input.operator}`;
  const result: ReleaseRun = { serviceId, dryRun: false, moved: 0, skipped: 0, failed: [] };
  let pageCursor = position?.c;
  let leftBehind = new Set(position?.x ?? []);
  const handled = () => result.moved + result.skipped + result.failed.length;
  const canStart = () => handled() < limit && timeLeft() >= deps.handoverReserveMs;
  const stopHere = (): ReleaseRun => ({
    ...result,
    cursor: encode({
      v: 1,
      s: serviceId,
      r: releaseId,
      ...(pageCursor !== undefined ? { c: pageCursor } : {}),
      ...(leftBehind.size > 0 ? { x: [...leftBehind] } : {}),
    }),
  });
  const finish = (answer: ReleaseRun): ReleaseRun => {
    deps.log.info('release', {
      serviceId,
      requestedBy,
      reason: input.reason,
      releaseId,
      moved: answer.moved,
      skipped: answer.skipped,
      failed: answer.failed.length,
      more: answer.cursor !== undefined,
    });
    deps.metrics.count('UsersReleased', answer.moved);
    return answer;
  };

  while (canStart()) {
    const page = await deps.state.listOwnedBy(serviceId, {
      limit: RELEASE_PAGE_SIZE,
      ...(pageCursor !== undefined ? { cursor: pageCursor } : {}),
    });
    for (const { userId } of page.items) {
      if (leftBehind.has(digest(userId))) continue;
      if (!canStart()) return finish(stopHere());
      const outcome = await moveOne(userId, serviceId, releaseId, requestedBy, input.reason, deps);
      if (outcome.kind === 'moved') {
        result.moved += 1;
        continue;
      }
      if (outcome.kind === 'skipped') result.skipped += 1;
      else result.failed.push({ userId, code: outcome.code });
      if (outcome.kind === 'unknown') return finish(stopHere());
      leftBehind.add(digest(userId));
    }
    if (page.cursor === undefined) return finish(result);
    pageCursor = page.cursor;
    leftBehind = new Set();
  }
  return finish(stopHere());
}

/** One user's move to the default Service, classified. */
async function moveOne(
  userId: string,
  serviceId: string,
  releaseId: string,
  actor: string,
  reason: string,
  deps: ReleaseDeps,
): Promise<Outcome> {
  try {
    const result = await deps.handover({
      userId,
      newOwner: 'default',
      expectedOwner: serviceId,
      metadata: { reason },
      requestedBy: serviceId,
      actor,
      source: 'operator',
      idempotencyKey: userKey(releaseId, userId),
    });
    return result.changed ? { kind: 'moved' } : { kind: 'skipped' };
  } catch (err) {
    // The user moved on since the listing (its index lags the owner items), or at Parley behind
    // the cache (the refused attempt and the observed owner are recorded): not the Service's.
    if (err instanceof OwnerChangedError || err instanceof NotOwnerError)
      return { kind: 'skipped' };
    if (err instanceof ParleyError && err.outcome === 'unknown') {
      return { kind: 'unknown', code: err.code };
    }
    if (err instanceof AppError) return { kind: 'failed', code: err.code };
    deps.log.error('release: a handover failed unexpectedly', {
      serviceId,
      releaseId,
      errorName: err instanceof Error ? err.name : typeof err,
    });
    return { kind: 'failed', code: 'internal_error' };
  }
}

/** The dry run: users listed as the Service's, up to DRY_RUN_MAX_USERS and the call's time. */
async function countOwned(
  serviceId: string,
  from: string | undefined,
  deps: ReleaseDeps,
  timeLeft: () => number,
): Promise<ReleaseDryRun> {
  const firstUsers: string[] = [];
  let count = 0;
  let cursor = from;
  do {
    if (count >= DRY_RUN_MAX_USERS || timeLeft() <= 0) break;
    const page = await deps.state.listOwnedBy(serviceId, {
      limit: Math.min(DRY_RUN_PAGE_SIZE, DRY_RUN_MAX_USERS - count),
      ...(cursor !== undefined ? { cursor } : {}),
    });
    count += page.items.length;
    for (const { userId } of page.items) {
      if (firstUsers.length < FIRST_USERS) firstUsers.push(userId);
    }
    cursor = page.cursor;
  } while (cursor !== undefined);
  return { serviceId, dryRun: true, count, complete: cursor === undefined, firstUsers };
}
