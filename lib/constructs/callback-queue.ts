// The callback queue between the inbound webhook and the processor: SQS FIFO (a user's callbacks
// stay in order: MessageGroupId = userId, MessageDeduplicationId = the delivery id), encrypted,
// TLS only, with a FIFO dead-letter queue that keeps failed callbacks for 14 days.
import { Duration } from 'aws-cdk-lib';
import {
  DeduplicationScope,
  FifoThroughputLimit,
  Queue,
  QueueEncryption,
} from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { QUEUE_VISIBILITY_TIMEOUT_SECONDS } from '../config';

export interface CallbackQueueProps {
  /**
   * How long a received callback stays invisible to other consumers. Must exceed the processor's
   * timeout and `staleAfter` (DESIGN.md's timeout chain).
   * @default 90 seconds
   */
  visibilityTimeout?: Duration;
  /**
   * Receives before a callback moves to the dead-letter queue. Five attempts ride out a Parley or
   * downstream outage of several minutes (each retry waits one visibility timeout) without keeping
   * a poison message, and its user's group, blocked for long.
   * @default 5
   */
  maxReceiveCount?: number;
  /**
   * How long the main queue keeps an unprocessed callback.
   * @default 4 days
   */
  retentionPeriod?: Duration;
}

export class CallbackQueue extends Construct {
  public readonly queue: Queue;
  public readonly deadLetterQueue: Queue;
  public readonly maxReceiveCount: number;

  constructor(scope: Construct, id: string, props: CallbackQueueProps = {}) {
    super(scope, id);
    this.maxReceiveCount = props.maxReceiveCount ?? 5;

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
      // Deduplication uses the delivery id the inbound function sets, never the body's hash.
      contentBasedDeduplication: false,
      // High-throughput FIFO: ordering and deduplication per user, not per queue.
      deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      visibilityTimeout:
        props.visibilityTimeout ?? Duration.seconds(QUEUE_VISIBILITY_TIMEOUT_SECONDS),
      retentionPeriod: props.retentionPeriod ?? Duration.days(4),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: this.maxReceiveCount },
    });
  }
}
