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
import { CALLBACK_MAX_RECEIVE_COUNT, SQS_MAX_MESSAGE_BYTES } from '../../functions/contracts/queue';
import { QUEUE_VISIBILITY_TIMEOUT_SECONDS } from '../config';

export interface CallbackQueueProps {
  /**
   * How long a received callback stays invisible to other consumers. Must exceed the processor's
   * timeout and `staleAfter` (DESIGN.md's timeout chain).
   * @default 90 seconds
   */
  visibilityTimeout?: Duration;
  /**
   * Receives before a callback moves to the dead-letter queue (the local queue and the suites read
   * the same default; deferred callbacks spend receives too, see functions/contracts/queue.ts).
   * @default CALLBACK_MAX_RECEIVE_COUNT (10)
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
    this.maxReceiveCount = props.maxReceiveCount ?? CALLBACK_MAX_RECEIVE_COUNT;

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
      // Stated, not left to the default: the webhook's body cap is derived from it.
      maxMessageSizeBytes: SQS_MAX_MESSAGE_BYTES,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: this.maxReceiveCount },
    });
  }
}
