// The OpenAPI shapes of erasure (DESIGN.md "Erasure and retention"): the request's answers, the
// register, an erasure with its tombstone and erased chain verified, the export; and the routes'
// operations (spread into openapi-operations.ts OPERATIONS, whose Operation type they meet without
// importing it). The domain types the bodies in TypeScript (domain/erasure/).
import * as z from 'zod/mini';
import {
  erasureRequestSchema,
  erasuresQuerySchema,
  exportQuerySchema,
  reapplyRequestSchema,
} from '../schemas/erasure';
import { handoverRecordSchema } from './openapi-schemas';
import '../schemas/zod-config';

const counts = z.object({
  records: z.number(),
  withMetadata: z.number(),
  ownerItem: z.number(),
  notifications: z.number(),
  /** Found by the eraser's scan of the state table; null before it ran. */
  stateItems: z.nullable(z.number()),
});

const STATUSES = ['requested', 'erasing', 'cleaning', 'done', 'reapply'] as const;

export const erasureAcceptedSchema = z.object({
  erasureId: z.string(),
  status: z.enum(STATUSES),
  counts,
});

export const erasureCountedSchema = z.union([
  z.object({ dryRun: z.literal(true), noop: z.boolean(), counts }),
  z.object({ erasureId: z.null(), noop: z.literal(true), counts }),
]);

/** A register item (without its body hash; `subjectUserId` only while the erasure is open). */
export const erasureItemSchema = z.object({
  erasureId: z.string(),
  level: z.enum(['metadata', 'full']),
  status: z.enum(STATUSES),
  subjectUserId: z.optional(z.string()),
  subjectRef: z.optional(z.string()),
  reason: z.string(),
  legalBasis: z.string(),
  requestedBy: z.string(),
  requestedAt: z.string(),
  startedAt: z.optional(z.string()),
  doneAt: z.optional(z.string()),
  counts,
  scope: z.optional(z.object({ fromDay: z.string(), throughDay: z.string(), before: z.string() })),
  stateCursor: z.optional(z.string()),
  idempotencyKey: z.optional(z.string()),
  version: z.number(),
});

export const erasuresPageSchema = z.object({
  items: z.array(erasureItemSchema),
  cursor: z.optional(z.string()),
});

export const tombstoneSchema = z.object({
  erasureId: z.string(),
  subjectRef: z.string(),
  count: z.number(),
  firstSeq: z.number(),
  lastSeq: z.number(),
  lastHash: z.string(),
  requestedBy: z.string(),
  reason: z.string(),
  legalBasis: z.string(),
  at: z.string(),
  checkpoint: z.optional(z.object({ checkpointId: z.string(), seq: z.number(), hash: z.string() })),
});

export const erasedChainReportSchema = z.object({
  erasureId: z.string(),
  ok: z.boolean(),
  count: z.number(),
  recomputed: z.number(),
  firstBroken: z.optional(
    z.object({
      seq: z.number(),
      problem: z.enum([
        'tombstone_missing',
        'seq_gap',
        'prev_hash_mismatch',
        'hash_mismatch',
        'tombstone_mismatch',
        'checkpoint_mismatch',
      ]),
    }),
  ),
  checkpoint: z.object({
    status: z.enum(['verified', 'broken', 'none', 'unchecked']),
    checkpointId: z.nullable(z.string()),
    seq: z.nullable(z.number()),
    fault: z.optional(z.string()),
  }),
});

export const erasureViewSchema = z.object({
  erasure: erasureItemSchema,
  tombstone: z.nullable(tombstoneSchema),
  verify: z.nullable(erasedChainReportSchema),
});

export const reapplyAnswerSchema = z.object({
  written: z.number(),
  reopened: z.number(),
  retention: z.boolean(),
});

const item = z.record(z.string(), z.unknown());

export const userExportSchema = z.object({
  userId: z.string(),
  /** The user's name in the signed checkpoints and tombstones (`verify --offline` reads it). */
  subjectRef: z.string(),
  exportedAt: z.string(),
  owner: z.nullable(item),
  records: z.array(handoverRecordSchema),
  offers: z.object({ live: z.nullable(item), records: z.array(handoverRecordSchema) }),
  lease: z.nullable(item),
  notifications: z.array(item),
  deliveries: z.array(item),
  idempotency: z.array(item),
  otherItems: z.array(item),
  stateScan: z.object({
    complete: z.boolean(),
    itemsRead: z.number(),
    cursor: z.optional(z.string()),
  }),
  erasures: z.array(
    z.object({
      erasure: erasureItemSchema,
      tombstone: z.nullable(tombstoneSchema),
    }),
  ),
  manifestSha256: z.string(),
});

// ---------------------------------------------------------------- operations

type Role = 'auditorToken' | 'operatorToken';

/** An operation of the erasure routes (a subset of openapi-operations.ts Operation). */
interface ErasureOperation {
  operationId: string;
  summary: string;
  /** Acting on a user's data: `operators`; reading the register: `audit`. */
  tag: 'operators' | 'audit';
  security: Role[];
  query?: z.core.$ZodType;
  body?: { schema: z.core.$ZodType; required: boolean };
  idempotencyKey?: string;
  alsoOk?: { status: number; schema: z.core.$ZodType; description: string };
  ok: { schema: z.core.$ZodType; status?: number };
  errors: number[];
}

const AUTH = [400, 401, 403, 500];
const BODY = [413, 415];
const OPERATORS: Role[] = ['operatorToken'];
const READERS: Role[] = ['auditorToken', 'operatorToken'];

export const ERASURE_OPERATIONS: Readonly<Record<string, ErasureOperation>> = {
  'POST /users/{userId}/erasure': {
    operationId: 'requestErasure',
    summary:
      "Erase a user's metadata (level metadata) or all of its data (level full); the eraser does it within a minute",
    tag: 'operators',
    security: OPERATORS,
    body: { schema: erasureRequestSchema, required: true },
    idempotencyKey:
      'Names the erasure (per operator): a repeat with the same body answers it again, another body 422.',
    ok: { schema: erasureAcceptedSchema, status: 202 },
    alsoOk: {
      status: 200,
      schema: erasureCountedSchema,
      description: 'A dry run (its counts), or nothing left to erase: a no-op',
    },
    // 409: a handover of the user is in flight; 503: the eraser's work list is full.
    errors: [...AUTH, ...BODY, 409, 422, 503],
  },
  'GET /users/{userId}/export': {
    operationId: 'exportUser',
    summary:
      'Everything held about a user (owner item, records with metadata, offers, lease, outbox, deliveries, erasures), with a manifest hash',
    tag: 'operators',
    security: OPERATORS,
    query: exportQuerySchema,
    ok: { schema: userExportSchema },
    errors: AUTH,
  },
  'GET /erasures': {
    operationId: 'listErasures',
    summary: 'The erasure register (a bounded scan: a page may be short and carry a cursor)',
    tag: 'audit',
    security: READERS,
    query: erasuresQuerySchema,
    ok: { schema: erasuresPageSchema },
    errors: AUTH,
  },
  'GET /erasures/{erasureId}': {
    operationId: 'getErasure',
    summary:
      'An erasure, its tombstone, and its erased chain verified (links, tombstone, checkpoint)',
    tag: 'audit',
    security: READERS,
    ok: { schema: erasureViewSchema },
    errors: [...AUTH, 404],
  },
  'POST /erasures/reapply': {
    operationId: 'reapplyErasures',
    summary: 'After a restore: write back the register saved from the old table and erase again',
    tag: 'operators',
    security: OPERATORS,
    body: { schema: reapplyRequestSchema, required: false },
    ok: { schema: reapplyAnswerSchema },
    errors: [...AUTH, ...BODY, 503],
  },
  'POST /erasures/retention': {
    operationId: 'requestRetentionRun',
    summary: 'Ask the eraser for a retention run (metadata older than retention.metadataDays)',
    tag: 'operators',
    security: OPERATORS,
    ok: { schema: z.object({ retention: z.literal('requested') }), status: 202 },
    errors: [...AUTH, 503],
  },
};
