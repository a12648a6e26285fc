// Erasure (DESIGN.md "Erasure and retention"): the shapes of a request, its register item, the
// tombstone and the erased records, and the port the eraser works through. Types only, so the use
// cases share them without importing one another.
import type { ChainedView } from '../chain';
import type { Clock, HistoryStore, IdGenerator, Log, MetricsSink, StateStore } from '../ports';
import type { NotificationStore } from '../ports';
import type { HandoverRecord, NotificationItem, OwnerItem, Page } from '../types';

/** `metadata`: metadata and salt off every record; `full`: the records leave the user entirely. */
export type ErasureLevel = 'metadata' | 'full';

/**
 * What a register item is at: `requested` (the API wrote it), `erasing` (the eraser started:
 * records being changed or moved), `cleaning` (records done, tombstone written; state items of
 * the user being removed), `done`. A full erasure found again after a restore is `reapply` until
 * the eraser has found its subject.
 */
export type ErasureStatus = 'requested' | 'erasing' | 'cleaning' | 'done' | 'reapply';

/** What an erasure touched (or, for a dry run, would touch). */
export interface ErasureCounts {
  /** The user's records (full: all of them, moved; metadata: all of them, looked at). */
  records: number;
  /** Records still holding metadata or a salt (what a metadata erasure removes). */
  withMetadata: number;
  /** 1 when the user has an owner item. */
  ownerItem: number;
  /** Outbox items of the user's records (found by their ids, no scan). */
  notifications: number;
  /**
   * Idempotency, delivery and other state items of the user: found only by a scan of the state
   * table, done by the eraser; null in a request's answer (not counted ahead).
   */
  stateItems: number | null;
}

/** The erasure register: `ERASURE#{erasureId}` in the state table, one per erasure. */
export interface ErasureItem {
  erasureId: string;
  level: ErasureLevel;
  status: ErasureStatus;
  /**
   * The user, while the erasure is not done (the eraser needs it to resume); removed when done:
   * `subjectRef` names the user from then on.
   */
  subjectUserId?: string;
  /** HMAC-SHA256(erasure key, userId), hex: written by the eraser (only it holds the key). */
  subjectRef?: string;
  reason: string;
  legalBasis: string;
  /** `operator:{name}` or `system:retention`. */
  requestedBy: string;
  requestedAt: string;
  /** When the eraser started; the `at` of every mark and of the tombstone. */
  startedAt?: string;
  doneAt?: string;
  counts: ErasureCounts;
  /** Retention runs: the days (UTC) whose records it erased, `from` to `through` inclusive. */
  scope?: { fromDay: string; throughDay: string; before: string };
  /** Where the eraser's scan of the state table resumes (full). */
  stateCursor?: string;
  /** The request's Idempotency-Key and body hash, when it came with one. */
  idempotencyKey?: string;
  bodyHash?: string;
  version: number;
}

/**
 * A record after a full erasure, under `pk = ERASED#{erasureId}`: no user id, metadata, free text,
 * offer id or salt. A v3 record keeps all of its chained view (chain.ts ChainedView, `reason`
 * standing for `reasonCode`), so its hash can be computed again (verify-erased.ts); a v1 or v2
 * record keeps the picked fields and its version only, and is checked by its links.
 */
export type ErasedRecord = Pick<
  HandoverRecord,
  | 'seq'
  | 'prevHash'
  | 'hash'
  | 'handoverId'
  | 'createdAt'
  | 'fromOwner'
  | 'toOwner'
  | 'source'
  | 'status'
  | 'requestedBy'
> & {
  /** The record's reason when it is a code (`user_requested_human`); null for free text. */
  reason: string | null;
  erasureId: string;
  /** The record's chain version; absent for v1. */
  chain?: 2 | 3;
} & Partial<Pick<ChainedView, 'parley' | 'kind' | 'offer' | 'metadataDigest' | 'subjectDigest'>>;

/** What a full erasure leaves in the history beside the erased records (the same partition). */
export interface Tombstone {
  erasureId: string;
  subjectRef: string;
  count: number;
  firstSeq: number;
  lastSeq: number;
  lastHash: string;
  requestedBy: string;
  reason: string;
  legalBasis: string;
  at: string;
  /**
   * The newest signed checkpoint that held the user's head when it was erased (found while the
   * user id was still known); absent when none did.
   */
  checkpoint?: { checkpointId: string; seq: number; hash: string };
}

/** The eraser's work list: `ERASURE#OPEN`, the erasures not done yet, one eraser at a time. */
export interface OpenErasures {
  /** Ids in the order they were opened; `retention` asks for a retention run. */
  entries: { erasureId: string; userId: string | null; level: ErasureLevel }[];
  /** Epoch ms until which a running eraser holds the list (another run leaves it alone). */
  leaseUntil: number;
  version: number;
}

/** The watermark of retention: every day through `throughDay` (UTC) has been erased. */
export interface RetentionMark {
  throughDay: string;
  version: number;
}

/** The erasure's reads and writes (functions/adapters/erasure-store.ts). */
export interface ErasureStore {
  getErasure(erasureId: string): Promise<ErasureItem | null>;
  /** Writes it unless one with its id exists: false then. */
  putErasure(item: ErasureItem): Promise<boolean>;
  /** Replaces it if its stored version is `expectedVersion` (`item.version` = that + 1). */
  compareAndSetErasure(item: ErasureItem, expectedVersion: number): Promise<boolean>;
  /** The register, in no order (a bounded scan of the state table: no index holds it). */
  listErasures(options: { limit: number; cursor?: string }): Promise<Page<ErasureItem>>;
  /** The ids of the erasures of a subject (a lookup item by subjectRef). */
  erasuresOfSubject(subjectRef: string): Promise<string[]>;
  addSubjectErasure(subjectRef: string, erasureId: string): Promise<void>;

  getOpen(): Promise<OpenErasures>;
  /** false when another writer changed the list since `expectedVersion` (0: none stored). */
  compareAndSetOpen(list: OpenErasures, expectedVersion: number): Promise<boolean>;

  /**
   * Removes metadata and salt from the user's record at `seq` and marks it, if it still has
   * `hash`: 'erased', 'absent' (no such record), or 'changed' (another record is there).
   */
  eraseRecordMetadata(
    userId: string,
    seq: number,
    hash: string,
    mark: { at: string; erasureId: string },
  ): Promise<'erased' | 'absent' | 'changed'>;
  /** Writes the erased copy (a second write of the same copy changes nothing). */
  putErasedRecord(record: ErasedRecord): Promise<void>;
  /** Deletes the user's record at `seq` if it still has `hash`; false when it does not. */
  deleteRecord(userId: string, seq: number, hash: string): Promise<boolean>;
  putTombstone(tombstone: Tombstone): Promise<void>;
  /** The erased records (ascending) and tombstone of an erasure. */
  readErased(erasureId: string): Promise<{ tombstone: Tombstone | null; records: ErasedRecord[] }>;

  /** Deletes the owner item if its version is `expectedVersion`; false when it is not. */
  deleteOwner(userId: string, expectedVersion: number): Promise<boolean>;
  /**
   * A page of the state table's items naming the user (`userId`), other than its owner item: its
   * idempotency, delivery, outbox and metrics items. A scan: it stops after `maxRead` items read,
   * with a cursor while the table goes on.
   */
  scanUserItems(
    userId: string,
    options: { cursor?: string; maxRead: number },
  ): Promise<{ items: Record<string, unknown>[]; cursor?: string; read: number }>;
  /** Deletes one state item by its key (`pk`). */
  deleteStateItem(pk: string): Promise<void>;
  /**
   * Finds which of `refOf(userId)` values are among `wanted`, over every user the tables name
   * (owner items and history partitions): the restore path only. Paged like scanUserItems.
   */
  findSubjects(
    refOf: (userId: string) => string,
    wanted: ReadonlySet<string>,
    options: { cursor?: string; maxRead: number },
  ): Promise<{ found: { userId: string; subjectRef: string }[]; cursor?: string }>;

  getRetention(): Promise<RetentionMark | null>;
  setRetention(mark: RetentionMark, expectedVersion: number): Promise<boolean>;
}

/**
 * The erasure key, also called the subject key (a secret of its own; adapters/erasure-key.ts):
 * what names an erased subject and a checkpoint's user, `subjectRef = HMAC-SHA256(key, userId)`
 * (subject.ts).
 */
export interface ErasureKeySource {
  key(): Promise<Uint8Array>;
}

/** What the erasure use cases need. */
export interface ErasureDeps {
  history: Pick<HistoryStore, 'listUser' | 'listRange'>;
  state: Pick<StateStore, 'getOwner' | 'compareAndSetOwner'>;
  notifications: Pick<NotificationStore, 'get' | 'compareAndSet'>;
  store: ErasureStore;
  clock: Clock;
  ids: IdGenerator;
  log: Log;
  metrics: MetricsSink;
}

/** The eraser's deps: the key, and how long one run may work. */
export interface EraserDeps extends ErasureDeps {
  /** The fence of a full erasure is created where the user has records but no owner item. */
  state: Pick<StateStore, 'getOwner' | 'compareAndSetOwner' | 'createOwner'>;
  /**
   * How long after a record's createdAt its writer may still be running: the longest timeout of
   * a function that writes records, and a margin for clocks. A writer that lost its marker to
   * recovery (a stalled one) may append that record again until then; a full erasure lists the
   * user's records a last time only once this long has passed since the newest one.
   */
  writersDoneMs: number;
  key: ErasureKeySource;
  /** Milliseconds one run may spend before it leaves the rest to the next. */
  budgetMs: number;
  /** Measures the run's time. @default clock */
  timer?: Clock;
  /** Items the state scan reads per page. @default 1000 */
  scanPageItems?: number;
  /**
   * How long after its receipt a delivery not done may still come back from the queue: the state
   * scan leaves it and the erasure waits until then (apply.ts). @default DELIVERIES_DONE_MS
   */
  deliveriesDoneMs?: number;
  /** `retention.metadataDays` and where the first run starts (stage configuration). */
  retention: { metadataDays: number; since: string };
  /** The newest checkpoint holding a user's head (a tombstone notes it); absent: none kept. */
  checkpointOf?: (
    userId: string,
  ) => Promise<{ checkpointId: string; seq: number; hash: string } | null>;
}

/** A record's outbox items, read by id (exported with the user's data, erased with it). */
export type FoundNotification = NotificationItem;

/** The owner item as an export shows it. */
export type ExportedOwner = OwnerItem;
