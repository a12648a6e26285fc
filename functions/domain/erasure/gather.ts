// What the tables hold of one user, found without a scan: the owner item, every record (ascending),
// and the outbox items those records caused. An outbox item's id derives from its record's
// handoverId, its type and its recipient (notify/build.ts), and who a record notifies does not
// depend on the configuration of the day (only whether it was sent does), so every candidate id is
// computed from the record and read by key. The one outbox item no record stands behind, a lease
// warning, is found from the owner item's current lease; warnings of earlier leases are found by
// the eraser's scan (they carry the user id).
import { canonicalJson } from '../canonical';
import { AGENT_UNSET, audienceOf, notificationId } from '../notify/build';
import { leaseWarningKey } from '../notify/lease';
import type { HandoverRecord, NotificationItem, OwnerItem } from '../types';
import type { ErasureCounts, ErasureDeps } from './types';

const RECORDS_PER_PAGE = 1000;

/** The user's records, oldest first (consistent reads). */
export async function userRecords(
  userId: string,
  history: ErasureDeps['history'],
): Promise<HandoverRecord[]> {
  const records: HandoverRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await history.listUser(userId, {
      limit: RECORDS_PER_PAGE,
      cursor,
      order: 'asc',
      consistent: true,
    });
    records.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  return records;
}

/** Every id an outbox item of `record` can have: its notifications and its action. */
export function outboxIdsOf(record: HandoverRecord): string[] {
  const ids: string[] = [];
  const audience = audienceOf(record);
  for (const recipient of audience?.recipients ?? []) {
    ids.push(notificationId(record.handoverId, audience!.type, recipient));
  }
  ids.push(notificationId(record.handoverId, AGENT_UNSET, record.toOwner));
  return [...new Set(ids)];
}

/** The id of the owner's current lease warning, when the item has a lease. */
export const leaseWarningIdOf = (owner: OwnerItem | null): string | null =>
  owner?.lease
    ? notificationId(leaseWarningKey(owner.userId, owner.lease), 'lease.expiring', owner.owner)
    : null;

/** The stored outbox items of the user's records (and of its current lease), by id. */
export async function userNotifications(
  records: HandoverRecord[],
  owner: OwnerItem | null,
  notifications: ErasureDeps['notifications'],
): Promise<NotificationItem[]> {
  const ids = records.flatMap(outboxIdsOf);
  const warning = leaseWarningIdOf(owner);
  if (warning) ids.push(warning);
  const found: NotificationItem[] = [];
  for (const id of new Set(ids)) {
    const item = await notifications.get(id);
    if (item) found.push(item);
  }
  return found;
}

/** Whether a record still holds what a metadata erasure removes. */
export const holdsMetadata = (record: HandoverRecord): boolean =>
  record.metadata !== null || record.salt !== undefined;

/** Whether an outbox item's body holds metadata (a new owner's copy). */
export function bodyHoldsMetadata(item: NotificationItem): boolean {
  try {
    const body = JSON.parse(item.body) as Record<string, unknown>;
    return body.metadata !== undefined && body.metadata !== null;
  } catch {
    return false;
  }
}

/** The body with its metadata set to null, in canonical form (as the sender signs it). */
export function bodyWithoutMetadata(item: NotificationItem): string {
  const body = JSON.parse(item.body) as Record<string, unknown>;
  return canonicalJson({ ...body, metadata: null });
}

export interface UserData {
  owner: OwnerItem | null;
  records: HandoverRecord[];
  notifications: NotificationItem[];
}

/** The owner item, records and outbox items of a user. */
export async function gatherUser(userId: string, deps: ErasureDeps): Promise<UserData> {
  const owner = await deps.state.getOwner(userId, { consistent: true });
  const records = await userRecords(userId, deps.history);
  const notifications = await userNotifications(records, owner, deps.notifications);
  return { owner, records, notifications };
}

/** What an erasure of `data` at `level` touches (state items: the eraser's scan, not counted). */
export function countsOf(data: UserData): ErasureCounts {
  return {
    records: data.records.length,
    withMetadata: data.records.filter(holdsMetadata).length,
    ownerItem: data.owner ? 1 : 0,
    notifications: data.notifications.length,
    stateItems: null,
  };
}

/** Nothing left for an erasure of this level to do. */
export function nothingToErase(data: UserData, level: 'metadata' | 'full'): boolean {
  if (level === 'full') return data.records.length === 0 && data.owner === null;
  return (
    !data.records.some(holdsMetadata) &&
    !data.notifications.some(bodyHoldsMetadata) &&
    !data.owner?.offer?.metadata
  );
}
