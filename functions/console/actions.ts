// The operators' actions on one user, posted from the User and Stuck pages: reconcile (the
// reconcile use case for that user) and release to the default Service (the handover use case,
// source `operator`, requestedBy `operator:{name}`, the reason in the record). Both need a reason
// and are logged with the operator's name; a release is a history record, and a form posted
// twice (its `key`) replays the first result instead of recording again.
import type { ConsoleDeps, ConsoleRequest, ConsoleResponse, Viewer } from './deps';
import { seg } from './html';
import { problemPage, redirect } from './layout';
import { userIdSchema } from '../schemas/api';

const MAX_REASON = 100;

export const consoleAction = async (
  req: ConsoleRequest,
  form: URLSearchParams,
  viewer: Viewer,
  deps: ConsoleDeps,
): Promise<ConsoleResponse> => {
  if (viewer.role !== 'operator') {
    return problemPage(
      403,
      'Operators only',
      'Auditors may look, not act: reconcile and release are for operators. Nothing was done.',
      viewer,
    );
  }
  const parsed = userIdSchema.safeParse(req.params.userId ?? '');
  if (!parsed.success) {
    const problem = parsed.error.issues[0]?.message ?? 'is not valid';
    return problemPage(400, 'Bad user id', `The user id in the path ${problem}.`, viewer);
  }
  const userId = parsed.data;
  const reason = (form.get('reason') ?? '').trim();
  if (reason === '' || [...reason].length > MAX_REASON) {
    return problemPage(
      400,
      'A reason is needed',
      `Give a reason of 1-${MAX_REASON} characters: it is logged with your name, and a release records it. Nothing was done.`,
      viewer,
    );
  }
  const requestedBy = `operator:${viewer.name}`;
  const back = (done: string) => redirect(`/console/users/${seg(userId)}?done=${done}#timeline`);

  if (req.route.endsWith('/reconcile')) {
    const result = await deps.reconcileUser(userId);
    deps.log.info('console action', {
      action: 'reconcile',
      userId,
      requestedBy,
      reason,
      recovered: result.recovered,
      failed: result.failed.length,
    });
    if (result.failed.length > 0) {
      return problemPage(
        503,
        'Reconcile did not finish',
        `The pending handover could not be finished (${result.failed[0]!.code}); it stays marked, and the schedule tries again.`,
        viewer,
      );
    }
    return back(result.recovered > 0 ? 'recovered' : 'nothing');
  }

  const key = form.get('key') ?? '';
  if (!/^[A-Za-z0-9_-]{16,64}$/.test(key)) {
    return problemPage(
      400,
      'Reload the page',
      'The form is incomplete: reload the page and try again.',
      viewer,
    );
  }
  const item = await deps.state.getOwner(userId);
  if (!item) {
    return problemPage(
      404,
      'Unknown user',
      'No owner item for this user: there is nothing to release.',
      viewer,
    );
  }
  const fallback = await deps.catalog.resolve('default');
  if (item.owner === fallback.identification) return back('unchanged');
  const result = await deps.handover({
    userId,
    newOwner: 'default',
    expectedOwner: item.owner,
    metadata: { reason },
    // The owner's credentials make Parley's PUT; the record names the operator.
    requestedBy: item.owner,
    actor: requestedBy,
    source: 'operator',
    idempotencyKey: `console:${key}`,
  });
  deps.log.info('console action', {
    action: 'release',
    userId,
    requestedBy,
    reason,
    handoverId: result.handover?.handoverId,
    changed: result.changed,
  });
  return back(result.changed ? 'released' : 'unchanged');
};
