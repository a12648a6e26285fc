// The notify queue between the outbox and the notifier: SQS FIFO (a recipient's notifications about
// one user stay in order: MessageGroupId = {recipient}#{userId}; MessageDeduplicationId = the id
// the sender gives), encrypted, TLS only, with a FIFO dead-letter queue for notifications that
// used their whole retry window.
import { Duration } from 'aws-cdk-lib';
import {
  DeduplicationScope,
  FifoThroughputLimit,
  Queue,
  QueueEncryption,
} from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** SQS's longest visibility timeout: one retry cannot wait longer. */
const MAX_WAIT_SECONDS = 43_200;

/** How long a notification is tried: 24 h from the event it is about (LIFECYCLE.md). */
export const NOTIFY_WINDOW_SECONDS = 24 * 3600;

/**
 * Receives beyond the schedule's attempts: an invocation that crashed or timed out spends a receive
 * without an attempt being counted, and must not cut a Service's window short.
 */
export const NOTIFY_SPARE_RECEIVES = 5;

/**
 * Attempts the notifier makes within the 24 h window for a notification that always fails: the
 * first at once, then after each wait of `retrySeconds` (the stage's notifyRetrySeconds), past
 * its end the last (at least 1 s) doubled per step, capped at 12 h, and one last attempt at the
 * window's end. The default [2, 10, 30] gives 15: at 0, 2 s, 12 s, 42 s, then after 1, 2, 4 ...
 * 512 min (at 17 h 03 min), and at 24 h. The notifier's own schedule
 * (functions/domain/notify/backoff.ts) must agree: test/lib/api-stack.test.ts compares them.
 */
export const notifyAttempts = (retrySeconds: readonly number[]): number => {
  const waitAfter = (attempt: number): number => {
    if (attempt <= retrySeconds.length)
      return Math.min(MAX_WAIT_SECONDS, retrySeconds[attempt - 1]!);
    const last = Math.max(1, retrySeconds[retrySeconds.length - 1] ?? 1);
    return Math.min(MAX_WAIT_SECONDS, last * 2 ** Math.min(attempt - retrySeconds.length, 16));
  };
  let attempts = 1;
  for (let at = 0; at < NOTIFY_WINDOW_SECONDS; attempts += 1) {
    at = Math.min(NOTIFY_WINDOW_SECONDS, at + waitAfter(attempts));
  }
  return attempts;
};

export interface NotifyQueueProps {
  /**
   * How long a received notification stays invisible when the notifier neither deletes it nor
   * sets its next retry (a crash, a timeout). Must exceed the notifier's timeout.
   */
  visibilityTimeout: Duration;
  /**
   * Receives before a notification moves to the dead-letter queue: the retry schedule's attempts
   * within 24 h and NOTIFY_SPARE_RECEIVES.
   */
  maxReceiveCount: number;
  /**
   * How long the main queue keeps a notification; longer than the 24 h retry window.
   * @default 4 days
   */
  retentionPeriod?: Duration;
}

export class NotifyQueue extends Construct {
  public readonly queue: Queue;
  public readonly deadLetterQueue: Queue;
  public readonly maxReceiveCount: number;

  constructor(scope: Construct, id: string, props: NotifyQueueProps) {
    super(scope, id);
    this.maxReceiveCount = props.maxReceiveCount;
    const retentionPeriod = props.retentionPeriod ?? Duration.days(4);
    if (retentionPeriod.toSeconds() <= NOTIFY_WINDOW_SECONDS) {
      throw new Error('The notify queue must keep a notification longer than its 24 h window.');
    }

    // A FIFO queue's dead-letter queue must be FIFO as well.
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      fifo: true,
      contentBasedDeduplication: false,
      retentionPeriod: Duration.days(14),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });

    this.queue = new Queue(this, 'Queue', {
      fifo: true,
      // The sender names each message (the notification id, or a redelivery's own id).
      contentBasedDeduplication: false,
      // High-throughput FIFO: ordering and deduplication per recipient and user, not per queue.
      deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      visibilityTimeout: props.visibilityTimeout,
      retentionPeriod,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: this.maxReceiveCount },
    });
  }
}
