// When the notifier tries again (LIFECYCLE.md "Notifications"): about 2 s, 10 s, 30 s, then each
// wait doubles the last, none longer than SQS lets a message stay invisible (12 h), and nothing
// after 24 h from the event: then the notification has failed and its message goes to the DLQ.

/** The default waits before the first retries, in seconds (the stage's notifyRetrySeconds). */
export const DEFAULT_RETRY_SECONDS: readonly number[] = [2, 10, 30];

/** SQS's longest visibility timeout: a retry cannot wait longer in one step. */
export const MAX_DELAY_SECONDS = 43_200;

/** How long a notification is tried: 24 h from the event it is about. */
export const NOTIFY_MAX_AGE_MS = 24 * 3600 * 1000;

/**
 * The wait after the `attempts`-th failed attempt (1 = the first): the schedule's entry, past its
 * end the last entry (at least 1 s) doubled once per step, capped at MAX_DELAY_SECONDS.
 */
export function retryDelaySeconds(
  attempts: number,
  schedule: readonly number[] = DEFAULT_RETRY_SECONDS,
): number {
  if (schedule.length === 0) throw new RangeError('The retry schedule lists no wait.');
  const step = Math.max(1, Math.floor(attempts));
  if (step <= schedule.length) return Math.min(MAX_DELAY_SECONDS, schedule[step - 1]!);
  // A schedule ending in 0 (tests) still grows past its end.
  const last = Math.max(1, schedule[schedule.length - 1]!);
  const doublings = step - schedule.length;
  // 2^16 times anything but 0 is past the cap already; stop there rather than overflow.
  return Math.min(MAX_DELAY_SECONDS, last * 2 ** Math.min(doublings, 16));
}

/**
 * The wait before the next attempt, or null when none is left: `nowMs` is at or past the end
 * (`createdAt` + maxAge). The last wait is cut to end at the deadline, so one attempt is made
 * there.
 */
export function nextDelaySeconds(
  attempts: number,
  createdAtMs: number,
  nowMs: number,
  schedule: readonly number[] = DEFAULT_RETRY_SECONDS,
  maxAgeMs: number = NOTIFY_MAX_AGE_MS,
): number | null {
  const left = createdAtMs + maxAgeMs - nowMs;
  if (left <= 0) return null;
  return Math.min(retryDelaySeconds(attempts, schedule), Math.ceil(left / 1000));
}

/** Attempts a notification that never succeeds gets when every attempt is made on time. */
export function attemptsWithin(
  schedule: readonly number[] = DEFAULT_RETRY_SECONDS,
  maxAgeMs: number = NOTIFY_MAX_AGE_MS,
): number {
  let attempts = 1;
  let at = 0;
  for (;;) {
    const wait = nextDelaySeconds(attempts, 0, at, schedule, maxAgeMs);
    if (wait === null) return attempts;
    at += wait * 1000;
    attempts += 1;
  }
}

/**
 * Receives before the notify queue moves a message to its DLQ: every attempt of the default
 * schedule is one receive (15 in 24 h), plus room for a few attempts that failed in the notifier
 * itself. The queue's redrive policy and the local queue read this one number.
 */
export const NOTIFY_MAX_RECEIVE_COUNT = attemptsWithin() + 5;
