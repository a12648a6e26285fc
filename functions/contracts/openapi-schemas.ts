// The OpenAPI document's shapes (contracts/openapi.ts): every error code the one error mapper can
// answer, by status, and the response bodies in zod. The domain types these in TypeScript; a test
// holds the two equal at compile time, and reads the codes back from the error classes.
import * as z from 'zod/mini';
import type { NotificationItem } from '../domain/types';
import type { CoverageFault } from '../domain/checkpoints/coverage';
import type { VerifyProblem } from '../domain/verify';
import '../schemas/zod-config';

// ---------------------------------------------------------------- errors

/**
 * Every error code the one error mapper (platform/http.ts) can answer, with its status. Kept by
 * hand; a test reads the error classes and every ValidationError/ForbiddenError raised in
 * functions/ and fails when this list misses one or names one nothing raises.
 */
export const ERROR_CODES: Readonly<Record<string, number>> = {
  invalid_request: 400,
  invalid_json: 400,
  invalid_user_id: 400,
  invalid_metadata: 400,
  metadata_too_large: 400,
  reason_too_long: 400,
  invalid_text: 400,
  invalid_idempotency_key: 400,
  invalid_instant: 400,
  invalid_range: 400,
  invalid_limit: 400,
  invalid_cursor: 400,
  invalid_filter: 400,
  unknown_service: 400,
  unauthorized: 401,
  invalid_notification_id: 400,
  forbidden: 403,
  not_owner: 403,
  service_required: 403,
  auditor_required: 403,
  operator_required: 403,
  not_found: 404,
  notification_not_found: 404,
  owner_changed: 409,
  handover_in_progress: 409,
  notification_busy: 409,
  offer_expired: 409,
  offer_superseded: 409,
  offer_cancelled: 409,
  offer_declined: 409,
  offer_accepted: 409,
  not_offeree: 403,
  not_offerer: 403,
  not_offer_party: 403,
  offer_not_found: 404,
  invalid_offer: 400,
  invalid_offer_id: 400,
  checkpoint_in_progress: 409,
  invalid_erasure_id: 400,
  erasure_not_found: 404,
  erasure_backlog: 503,
  erasure_in_progress: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_key_reused: 422,
  cannot_release_default: 422,
  lease_limit_exceeded: 422,
  internal_error: 500,
  parley_error: 502,
  parley_unavailable: 503,
  enqueue_failed: 503,
  parley_timeout: 504,
};

export const codesOf = (status: number): [string, ...string[]] => {
  const codes = Object.keys(ERROR_CODES).filter((code) => ERROR_CODES[code] === status);
  if (codes.length === 0) throw new Error(`No error code answers ${status}.`);
  return codes as [string, ...string[]];
};

export const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad input',
  401: 'No or bad credentials',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflict',
  413: 'Body too large',
  415: 'The body is not sent as application/json',
  422: 'Refused as asked: an Idempotency-Key reused with another body, the default Service released, or a lease past its hard limit',
  500: 'Internal error (generic message, nothing internal)',
  502: 'Parley refused the call',
  503: 'Unavailable; retry after Retry-After',
  504: 'Parley did not answer in time',
};

/**
 * Statuses that carry Retry-After (HandoverInProgressError, NotificationBusyError, the
 * unknown-outcome Parley errors).
 */
export const RETRY_AFTER_STATUSES = new Set([409, 503]);

export const errorBody = (status: number) =>
  z.object({
    error: z.object({
      code: z.enum(codesOf(status)),
      message: z.string(),
      currentOwner: z.optional(z.nullable(z.string())),
      parley: z.optional(z.object({ status: z.number(), code: z.nullable(z.string()) })),
      // lease_limit_exceeded names the limit the extension would have run past.
      ...(status === 422 ? { hardExpiresAt: z.optional(z.string()) } : {}),
    }),
  });

// ---------------------------------------------------------------- response bodies

export const ownerView = z.object({
  identification: z.string(),
  name: z.string(),
  default: z.boolean(),
});

export const handoverRecordSchema = z.object({
  handoverId: z.string(),
  userId: z.string(),
  seq: z.number(),
  fromOwner: z.nullable(z.string()),
  toOwner: z.string(),
  reason: z.nullable(z.string()),
  metadata: z.nullable(z.record(z.string(), z.unknown())),
  metadataDigest: z.string(),
  requestedBy: z.string(),
  source: z.enum([
    'api',
    'rule',
    'downstream',
    'observed',
    'failover',
    'operator',
    'timeout',
    'offer',
  ]),
  status: z.enum(['completed', 'failed']),
  parley: z.nullable(
    z.object({
      status: z.nullable(z.number()),
      code: z.nullable(z.string()),
      durationMs: z.number(),
    }),
  ),
  createdAt: z.string(),
  prevHash: z.string(),
  hash: z.string(),
  kind: z.optional(z.literal('offer')),
  offer: z.optional(
    z.object({
      offerId: z.string(),
      event: z.enum(['created', 'accepted', 'declined', 'cancelled', 'expired', 'superseded']),
      from: z.string(),
      to: z.string(),
      expiresAt: z.string(),
      onTimeout: z.optional(z.string()),
    }),
  ),
  chain: z.optional(z.literal([2, 3])),
  salt: z.optional(z.string()),
  subjectSalt: z.optional(z.string()),
  metadataErased: z.optional(z.object({ at: z.string(), erasureId: z.string() })),
});

export const handoverResultSchema = z.object({
  changed: z.boolean(),
  owner: ownerView,
  handover: z.optional(handoverRecordSchema),
});

export const messageResultSchema = z.object({ userId: z.string(), sent: z.literal(true) });

/** The owner's lease of a user (GET owner: shown while Parley agrees with the cached owner). */
export const leaseViewSchema = z.object({
  expiresAt: z.string(),
  hardExpiresAt: z.string(),
  lastUserAt: z.string(),
  lastOwnerAt: z.string(),
  /** When lease.expiring went out; gone once activity moved the warning point ahead. */
  warnedAt: z.optional(z.string()),
});

export const ownerNowSchema = z.object({
  userId: z.string(),
  owner: ownerView,
  since: z.optional(z.string()),
  lastHandoverId: z.optional(z.string()),
  lease: z.optional(leaseViewSchema),
});

export const ownerAtSchema = z.object({
  userId: z.string(),
  at: z.string(),
  owner: z.nullable(ownerView),
  known: z.boolean(),
  since: z.optional(z.string()),
  handoverId: z.optional(z.string()),
});

export const servicesSchema = z.object({
  services: z.array(
    z.object({
      identification: z.string(),
      name: z.string(),
      default: z.boolean(),
      role: z.enum(['bot', 'agent']),
    }),
  ),
});

export const handoverPageSchema = z.object({
  handovers: z.array(handoverRecordSchema),
  cursor: z.optional(z.string()),
});

export const reconcileResultSchema = z.object({
  examined: z.number(),
  recovered: z.number(),
  failed: z.array(z.object({ userId: z.string(), code: z.string() })),
  oldestPendingAgeSeconds: z.number(),
});

const VERIFY_PROBLEMS = [
  'hash_mismatch',
  'prev_hash_mismatch',
  'seq_gap',
  'metadata_digest_mismatch',
  'subject_digest_mismatch',
  'wrong_user',
  'head_mismatch',
  'record_missing',
  'beyond_head',
  'owner_item_missing',
  'checkpoint_mismatch',
  'checkpoint_record_missing',
  'checkpoint_invalid',
] as const satisfies readonly VerifyProblem[];

const COVERAGE_FAULTS = [
  'heads_not_sorted',
  'tree_size_mismatch',
  'root_mismatch',
  'signature_invalid',
  'chain_broken',
  'unreadable',
] as const satisfies readonly CoverageFault[];

/** A user's records against the newest signed checkpoint holding the user. */
export const checkpointCoverageSchema = z.object({
  status: z.enum(['verified', 'none', 'broken']),
  checkpointId: z.nullable(z.string()),
  createdAt: z.nullable(z.string()),
  seq: z.nullable(z.number()),
  notYetCheckpointed: z.number(),
  fault: z.optional(z.enum(COVERAGE_FAULTS)),
});

export const verifyReportSchema = z.object({
  userId: z.string(),
  /**
   * The user's name in the signed checkpoints, hex HMAC-SHA256(subject key, userId): what finds
   * its heads in a copy of the bucket (`verify --offline --subject-ref`); absent where no
   * checkpoints are kept.
   */
  subjectRef: z.optional(z.string()),
  ok: z.boolean(),
  count: z.number(),
  lastSeq: z.number(),
  lastHash: z.string(),
  firstBroken: z.optional(
    z.object({
      seq: z.number(),
      handoverId: z.nullable(z.string()),
      problem: z.enum(VERIFY_PROBLEMS),
    }),
  ),
  pending: z.optional(
    z.object({
      seq: z.number(),
      handoverId: z.string(),
      markedAt: z.string(),
      recorded: z.boolean(),
    }),
  ),
  checkpoint: z.optional(checkpointCoverageSchema),
  erased: z.optional(z.object({ metadata: z.number() })),
});

/** A signed checkpoint without its heads (they are in the bucket), and the hash that chains it. */
export const checkpointSummarySchema = z.object({
  checkpointId: z.string(),
  createdAt: z.string(),
  coveredUntil: z.nullable(z.string()),
  previousCheckpointHash: z.string(),
  treeSize: z.number(),
  rootHash: z.string(),
  hash: z.string(),
});

/** POST /checkpoints: the newest checkpoint written (null: no history changed), all of them. */
export const checkpointRunSchema = z.object({
  checkpoint: z.nullable(checkpointSummarySchema),
  checkpoints: z.array(checkpointSummarySchema),
  complete: z.boolean(),
});

export const verifyPageSchema = z.object({
  users: z.array(verifyReportSchema),
  cursor: z.optional(z.string()),
});

const NOTIFICATION_TYPES = [
  'handover.completed',
  'handover.failed',
  'handover.observed',
  'failover.triggered',
  'offer.created',
  'offer.accepted',
  'offer.declined',
  'offer.expired',
  'offer.cancelled',
  'offer.superseded',
  'lease.expiring',
  'lease.expired',
  // An action item (work for the sender that no Service receives) is listed with the others.
  'parley.agent_unset',
] as const satisfies readonly NotificationItem['type'][];

/** One outbox item as GET /notifications lists it (never its body). */
export const notificationViewSchema = z.object({
  id: z.string(),
  kind: z.enum(['notification', 'action']),
  type: z.enum(NOTIFICATION_TYPES),
  recipient: z.string(),
  userId: z.string(),
  seq: z.number(),
  handoverId: z.string(),
  status: z.enum(['pending', 'sent', 'failed']),
  attempts: z.number(),
  lastStatus: z.nullable(z.number()),
  lastError: z.nullable(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
  sentAt: z.nullable(z.string()),
});

export const notificationPageSchema = z.object({
  items: z.array(notificationViewSchema),
  cursor: z.optional(z.string()),
});

export const redeliverResultSchema = z.object({ id: z.string(), status: z.literal('pending') });

/** A bulk release: the dry run's count, or what one call did (and the cursor to go on). */
export const releaseDryRunSchema = z.object({
  serviceId: z.string(),
  dryRun: z.literal(true),
  count: z.number(),
  complete: z.boolean(),
  firstUsers: z.array(z.string()),
});

export const releaseRunSchema = z.object({
  serviceId: z.string(),
  dryRun: z.literal(false),
  moved: z.number(),
  skipped: z.number(),
  failed: z.array(z.object({ userId: z.string(), code: z.string() })),
  cursor: z.optional(z.string()),
});

export const healthSchema = z.object({
  status: z.literal('ok'),
  stage: z.string(),
  services: z.number(),
});

export const acceptedSchema = z.object({ accepted: z.literal(true) });

/** What a Service's downstream receives (webhook `forward`, DESIGN.md "Downstream signature"). */
export const forwardPayloadSchema = z.object({
  deliveryId: z.string(),
  serviceId: z.string(),
  userId: z.nullable(z.string()),
  type: z.string(),
  text: z.nullable(z.string()),
  handover: z.optional(z.object({ handoverId: z.string(), fromOwner: z.string() })),
  /** While an offer of the user is open: on the owner's forward and on the offeree's copy. */
  offer: z.optional(z.object({ offerId: z.string(), to: z.string(), expiresAt: z.string() })),
  /** The offeree's copy of a message the owner got (`deliverDuringOffer: "both"`): not to answer. */
  standby: z.optional(z.literal(true)),
  callback: z.unknown(),
});
