// The AWS endpoint of the bundle mode (local/bundles.ts): the functions' bundled SDK clients reach
// it through AWS_ENDPOINT_URL, as they reach AWS in a deployment. It answers the calls the
// functions make outside DynamoDB (which goes to dynalite directly): Secrets Manager's
// GetSecretValue from the services file's values, and SQS's SendMessage and
// ChangeMessageVisibility on the local queue, in the SDK's JSON protocol. Anything else is refused
// with an error the SDK reads, naming the call, so a new call shows up here instead of hanging.
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CallbackQueue } from '../functions/domain/ports';
import { readBody } from './http/body';

export interface LocalAwsEndpoint {
  /** e.g. `http://127.0.0.1:41234` */
  url: string;
  close(): Promise<void>;
}

export interface LocalAwsEndpointOptions {
  /** Secret values (JSON text) by ARN. */
  secrets: ReadonlyMap<string, string>;
  /**
   * The path of the queue's URL (`/{account}/{name}`), and the queue behind it. The SDK sends to
   * the queue URL's host, so the functions get this endpoint's URL with that path.
   */
  queuePath: string;
  queue: Required<CallbackQueue>;
  /** The notify queue, at a path of its own. */
  notify?: { queuePath: string; queue: Required<CallbackQueue> };
}

/** SQS's own limit is 256 KiB; a request body is read up to a little more (JSON escaping). */
const MAX_REQUEST_BYTES = 1024 * 1024;

type SqsAttributes = Record<string, { DataType?: string; StringValue?: string }>;

class AwsError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const sqsCall = async (
  options: LocalAwsEndpointOptions,
  action: string,
  input: Record<string, unknown>,
): Promise<unknown> => {
  let path = '';
  try {
    path = new URL(String(input.QueueUrl)).pathname;
  } catch {
    // not a URL: no such queue
  }
  const queue =
    path === options.queuePath
      ? options.queue
      : path === options.notify?.queuePath
        ? options.notify.queue
        : null;
  if (!queue) {
    throw new AwsError(400, 'QueueDoesNotExist', 'The specified queue does not exist.');
  }
  if (action === 'SendMessage') {
    const body = String(input.MessageBody ?? '');
    const attributes: Record<string, string> = {};
    for (const [name, value] of Object.entries((input.MessageAttributes ?? {}) as SqsAttributes)) {
      if (value.DataType !== 'String' || typeof value.StringValue !== 'string') {
        throw new AwsError(400, 'InvalidParameterValue', `Attribute ${name} is not a String.`);
      }
      attributes[name] = value.StringValue;
    }
    await queue.send({
      groupId: String(input.MessageGroupId ?? ''),
      dedupId: String(input.MessageDeduplicationId ?? ''),
      body,
      ...(Object.keys(attributes).length ? { attributes } : {}),
    });
    return {
      MessageId: randomUUID(),
      MD5OfMessageBody: createHash('md5').update(body, 'utf8').digest('hex'),
      SequenceNumber: String(Date.now()),
    };
  }
  if (action === 'ChangeMessageVisibility') {
    await queue.changeVisibility(
      String(input.ReceiptHandle ?? ''),
      Number(input.VisibilityTimeout ?? 0),
    );
    return {};
  }
  throw new AwsError(
    400,
    'UnsupportedOperation',
    `The local endpoint does not answer SQS ${action}.`,
  );
};

const answer = async (
  options: LocalAwsEndpointOptions,
  target: string,
  input: Record<string, unknown>,
): Promise<unknown> => {
  const [service, action = ''] = target.split('.');
  if (service === 'secretsmanager' && action === 'GetSecretValue') {
    const id = String(input.SecretId ?? '');
    const value = options.secrets.get(id);
    if (value === undefined) {
      throw new AwsError(
        400,
        'ResourceNotFoundException',
        "Secrets Manager can't find the specified secret.",
      );
    }
    return {
      ARN: id,
      Name: id,
      SecretString: value,
      VersionId: 'local',
      VersionStages: ['AWSCURRENT'],
    };
  }
  if (service === 'AmazonSQS') return sqsCall(options, action, input);
  throw new AwsError(
    400,
    'UnknownOperationException',
    `The local endpoint does not answer ${target || 'this call'}.`,
  );
};

export const startLocalAwsEndpoint = async (
  options: LocalAwsEndpointOptions,
): Promise<LocalAwsEndpoint> => {
  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        'content-type': 'application/x-amz-json-1.0',
        'content-length': Buffer.byteLength(text),
        'x-amzn-requestid': randomUUID(),
      });
      res.end(text);
    };
    (async () => {
      const { bytes, tooLarge } = await readBody(req, { limit: MAX_REQUEST_BYTES });
      if (tooLarge) throw new AwsError(413, 'RequestEntityTooLarge', 'Request too large.');
      const input = JSON.parse(bytes.toString('utf8') || '{}') as Record<string, unknown>;
      return answer(options, String(req.headers['x-amz-target'] ?? ''), input);
    })().then(
      (output) => send(200, output),
      (err: unknown) =>
        err instanceof AwsError
          ? send(err.status, { __type: err.type, message: err.message })
          : // The queue's own failure (dynalite down): the SDK retries a 500 as it would AWS's.
            send(500, { __type: 'InternalFailure', message: 'The local endpoint failed.' }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
};
