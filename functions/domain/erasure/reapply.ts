// After a point-in-time restore (README "PITR restore"): the restored tables hold again what was
// erased after the restore point. `POST /erasures/reapply` (operators) writes back the register
// items saved from the old table (`erasure list --all` before the switch) and opens every one of
// them again; the eraser then does each again:
// - a user's erasure that was done names its subject only by subjectRef: the eraser finds the user
//   by computing the HMAC of every owner item's user id (a scan of the state table, a page per
//   step, its place kept in the register item), then erases as the first time (the same id, the
//   same marks); a subject not found holds nothing to erase;
// - a retention run: its watermark was restored with the table, so the next retention run erases
//   those days again; reapply asks for one.
import type { StepClock } from './apply';
import { openErasure, RETENTION_ENTRY } from './request';
import { subjectRefOf } from './subject';
import type { ErasureDeps, EraserDeps, ErasureItem } from './types';

export interface ReapplyAnswer {
  /** Register items written back (absent from this table). */
  written: number;
  /** Erasures opened again for the eraser. */
  reopened: number;
  /** Whether a retention run was asked for. */
  retention: boolean;
}

const isRetention = (item: ErasureItem): boolean => item.requestedBy === 'system:retention';

/**
 * Input: register items from the old table (none: this table's own register). Output: counts.
 * Steps: write back the missing items -> mark each done user erasure `reapply` -> open them all
 * (and a retention run, when any retention item was given).
 */
export async function reapplyErasures(
  given: ErasureItem[] | undefined,
  deps: ErasureDeps,
): Promise<ReapplyAnswer> {
  const items = given ?? (await allErasures(deps));
  const answer: ReapplyAnswer = { written: 0, reopened: 0, retention: false };
  for (const old of items) {
    if (isRetention(old)) {
      if ((await deps.store.getErasure(old.erasureId)) === null) {
        if (await deps.store.putErasure({ ...old, version: 1 })) answer.written++;
      }
      answer.retention = true;
      continue;
    }
    let item = await deps.store.getErasure(old.erasureId);
    if (!item) {
      const restored: ErasureItem = { ...old, version: 1 };
      if (await deps.store.putErasure(restored)) answer.written++;
      item = (await deps.store.getErasure(old.erasureId))!;
    }
    if (item.status === 'done') {
      if (!item.subjectRef) continue; // nothing names its subject any more
      const { stateCursor: _c, ...rest } = item;
      const next: ErasureItem = { ...rest, status: 'reapply', version: item.version + 1 };
      if (!(await deps.store.compareAndSetErasure(next, item.version))) continue;
      item = next;
    }
    await openErasure(
      { erasureId: item.erasureId, userId: item.subjectUserId ?? null, level: item.level },
      deps.store,
    );
    answer.reopened++;
  }
  if (answer.retention) {
    await openErasure({ erasureId: RETENTION_ENTRY, userId: null, level: 'metadata' }, deps.store);
  }
  deps.log.info('erasures reapplied', { ...answer });
  return answer;
}

async function allErasures(deps: ErasureDeps): Promise<ErasureItem[]> {
  const items: ErasureItem[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.store.listErasures({ limit: 100, cursor });
    items.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  return items;
}

/**
 * The eraser's side: finds the subject of a `reapply` item, a page of owner items per step while
 * the run has time. Output: the item as it stands (`reapply` while the scan goes on; `erasing`
 * with its user found; `done` when no user matched).
 */
export async function reapplyPending(
  item: ErasureItem,
  deps: EraserDeps,
  clock: StepClock,
): Promise<ErasureItem> {
  const wanted = new Set([item.subjectRef!]);
  const key = await deps.key.key();
  let current = item;
  while (clock.hasTime()) {
    const page = await deps.store.findSubjects((userId) => subjectRefOf(key, userId), wanted, {
      ...(current.stateCursor ? { cursor: current.stateCursor } : {}),
      maxRead: deps.scanPageItems ?? 1000,
    });
    const { stateCursor: _c, ...rest } = current;
    const match = page.found[0];
    const change: Partial<ErasureItem> = match
      ? { status: current.startedAt ? 'erasing' : 'requested', subjectUserId: match.userId }
      : page.cursor
        ? { stateCursor: page.cursor }
        : { status: 'done' };
    const next = { ...rest, ...change, version: current.version + 1 } as ErasureItem;
    if (!(await deps.store.compareAndSetErasure(next, current.version))) return current;
    current = next;
    if (current.status !== 'reapply') {
      deps.log.info('erasure reapply', {
        erasureId: current.erasureId,
        found: match !== undefined,
      });
      return current;
    }
  }
  return current;
}
