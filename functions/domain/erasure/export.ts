// GET /users/{userId}/export (operators): what this service holds about a user, for an access
// request. Served by the eraser, which holds the subject key: after an erasure only the key finds
// the subject's tombstones, and the export names the user's subjectRef for an offline auditor.
// Found without a scan: the owner item (with its lease and live offer), every record with its
// metadata (offer records among them), the records' outbox items (ids derived from the records),
// the subject's erasures and tombstones. Found by a bounded
// scan of the state table (no index holds them by user): the stored deliveries, idempotency items,
// metrics notes and any other outbox item (a warning of an earlier lease); the scan's
// `complete: false` and cursor say where a further call goes on.
// `manifestSha256` is sha256 over the canonical JSON of the export without that field.
import { canonicalJson } from '../canonical';
import { sha256Hex } from '../chain';
import { ErasureNotFoundError } from '../errors';
import type { LeaseState, LiveOffer } from '../lifecycle/types';
import type { HandoverRecord, NotificationItem, OwnerItem } from '../types';
import { assertUserId } from '../user-id';
import { gatherUser } from './gather';
import { subjectRefOf } from './subject';
import type { EraserDeps, ErasureItem, Tombstone } from './types';
import { type ErasedChainReport, verifyErasedChain } from './verify-erased';
import type { ErasedCheckpointChecker } from './verify-erased';

/** State items read per export call (a scan: deliveries have no index by user). */
export const EXPORT_SCAN_ITEMS = 20_000;

export interface UserExport {
  userId: string;
  /**
   * The user's name in the signed checkpoints and in tombstones (subject.ts): what finds its heads
   * in a copy of the checkpoint bucket (`verify --offline` reads it from this file).
   */
  subjectRef: string;
  exportedAt: string;
  owner: OwnerItem | null;
  records: HandoverRecord[];
  offers: { live: LiveOffer | null; records: HandoverRecord[] };
  lease: LeaseState | null;
  notifications: NotificationItem[];
  /** State items by kind, from the scan. */
  deliveries: Record<string, unknown>[];
  idempotency: Record<string, unknown>[];
  otherItems: Record<string, unknown>[];
  stateScan: { complete: boolean; itemsRead: number; cursor?: string };
  erasures: {
    erasure: Omit<ErasureItem, 'subjectUserId' | 'bodyHash'>;
    tombstone: Tombstone | null;
  }[];
  manifestSha256: string;
}

/** The register item as shown: without the user id it may still hold, or the body hash. */
const shown = (item: ErasureItem) => {
  const { subjectUserId: _u, bodyHash: _b, ...rest } = item;
  return rest;
};

export async function exportUser(
  userId: string,
  deps: EraserDeps,
  options: { cursor?: string; maxRead?: number } = {},
): Promise<UserExport> {
  assertUserId(userId);
  const data = await gatherUser(userId, deps);
  const byId = new Map(data.notifications.map((n) => [n.id, n]));
  const deliveries: Record<string, unknown>[] = [];
  const idempotency: Record<string, unknown>[] = [];
  const otherItems: Record<string, unknown>[] = [];
  const page = await deps.store.scanUserItems(userId, {
    ...(options.cursor ? { cursor: options.cursor } : {}),
    maxRead: options.maxRead ?? EXPORT_SCAN_ITEMS,
  });
  for (const item of page.items) {
    const pk = String(item.pk);
    if (pk.startsWith('CB#')) deliveries.push(item);
    else if (pk.startsWith('IDEM#')) idempotency.push(item);
    else if (pk.startsWith('NOTIFY#')) {
      const { pk: _pk, ...rest } = item;
      const ntf = stripIndexKeys(rest) as unknown as NotificationItem;
      if (!byId.has(ntf.id)) byId.set(ntf.id, ntf);
    } else otherItems.push(item);
  }
  const subjectRef = subjectRefOf(await deps.key.key(), userId);
  const erasures = [];
  for (const erasureId of await deps.store.erasuresOfSubject(subjectRef)) {
    const item = await deps.store.getErasure(erasureId);
    if (!item) continue;
    const { tombstone } = await deps.store.readErased(erasureId);
    erasures.push({ erasure: shown(item), tombstone });
  }
  const body: Omit<UserExport, 'manifestSha256'> = {
    userId,
    subjectRef,
    exportedAt: new Date(deps.clock.now()).toISOString(),
    owner: data.owner,
    records: data.records,
    offers: {
      live: data.owner?.offer ?? null,
      records: data.records.filter((r) => r.offer !== undefined),
    },
    lease: data.owner?.lease ?? null,
    notifications: [...byId.values()],
    deliveries,
    idempotency,
    otherItems,
    stateScan: {
      complete: page.cursor === undefined,
      itemsRead: page.read,
      ...(page.cursor ? { cursor: page.cursor } : {}),
    },
    erasures,
  };
  deps.log.info('user exported', {
    records: body.records.length,
    erasures: erasures.length,
    complete: body.stateScan.complete,
  });
  return { ...body, manifestSha256: sha256Hex(canonicalJson(body)) };
}

/** The outbox store's index attributes, not part of an item. */
const stripIndexKeys = (item: Record<string, unknown>): Record<string, unknown> => {
  const { ntfPk: _p, ntfSk: _s, ...rest } = item;
  return rest;
};

export interface ErasureView {
  erasure: Omit<ErasureItem, 'subjectUserId' | 'bodyHash'>;
  tombstone: Tombstone | null;
  /** A full erasure's erased chain, verified (null for the metadata level). */
  verify: ErasedChainReport | null;
}

/** GET /erasures/{erasureId}: the register item, its tombstone and the erased chain verified. */
export async function describeErasure(
  erasureId: string,
  deps: Pick<EraserDeps, 'store'>,
  checker?: ErasedCheckpointChecker,
): Promise<ErasureView> {
  const item = await deps.store.getErasure(erasureId);
  if (!item) throw new ErasureNotFoundError();
  if (item.level !== 'full' || item.status === 'requested') {
    return { erasure: shown(item), tombstone: null, verify: null };
  }
  const erased = await deps.store.readErased(erasureId);
  return {
    erasure: shown(item),
    tombstone: erased.tombstone,
    verify:
      item.status === 'done' || erased.tombstone
        ? await verifyErasedChain(erasureId, erased, checker)
        : null,
  };
}
