// The callback queue's redrive limit, declared once: the deployed SQS queue (lib/), the local queue
// (local/) and the suites that count receives all read it, so a message parks after the same
// number of receives everywhere.

/**
 * Receives before a callback moves to the dead-letter queue. A callback deferred while its user's
 * handover is in flight spends receives too: at most 7 for any staleAfter the timeout chain allows
 * (6 at the default 60 s; functions/adapters/queue-message.ts), which leaves at least 3 attempts to
 * ride out a Parley or downstream outage (each retry waits one visibility timeout) without keeping
 * a poison message, and its user's group, blocked for long.
 */
export const CALLBACK_MAX_RECEIVE_COUNT = 10;
