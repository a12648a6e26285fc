// The OpenAPI shapes of the lease route: POST /users/{userId}/lease { extendSeconds }. Its operation
// is spread into openapi-operations.ts OPERATIONS and meets its Operation type without importing it
// (no import circle). The domain types the answer (domain/lifecycle/extend.ts extendOwnerLease).
import * as z from 'zod/mini';
import { leaseExtendRequestSchema } from '../schemas/api';
import '../schemas/zod-config';

/** The lease after the extension. */
export const leaseExtendedSchema = z.object({
  expiresAt: z.string(),
  hardExpiresAt: z.string(),
});

/** An operation of the lease route (a subset of openapi-operations.ts Operation). */
interface LeaseOperation {
  operationId: string;
  summary: string;
  tag: 'owners';
  security: 'apiToken'[];
  body: { schema: z.core.$ZodType; required: boolean };
  ok: { schema: z.core.$ZodType };
  errors: number[];
}

export const LEASE_OPERATIONS: Readonly<Record<string, LeaseOperation>> = {
  'POST /users/{userId}/lease': {
    operationId: 'extendLease',
    summary:
      'The owning Service keeps its user longer: the lease runs extendSeconds past its current expiry (past now, if it ran out), never past hardExpiresAt',
    tag: 'owners',
    security: ['apiToken'],
    body: { schema: leaseExtendRequestSchema, required: true },
    ok: { schema: leaseExtendedSchema },
    // 403 not_owner (with currentOwner) or service_required; 404: no owner item, or its owner
    // holds no lease; 409 handover_in_progress (Retry-After), or owner_changed when the lease kept
    // changing; 422 lease_limit_exceeded (with hardExpiresAt), nothing written. No Parley call.
    errors: [400, 401, 403, 404, 409, 413, 415, 422, 500],
  },
};
