// One local endpoint for the cold-start children (AWS_ENDPOINT_URL points every SDK client at it):
// Secrets Manager and SQS are answered here, DynamoDB calls are passed to dynalite and Parley calls
// to the simulator. Every call is recorded, so a function's first I/O can be replayed by its floor.
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FloorCall } from './floors/floor-function';

export interface AwsStub {
  url: string;
  /** The calls since the last `take()`. */
  take(): FloorCall[];
  close(): Promise<void>;
}

const readAll = (req: http.IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

const forward = (
  target: URL,
  req: http.IncomingMessage,
  body: Buffer,
  res: http.ServerResponse,
  agent: http.Agent,
  path: string,
) =>
  new Promise<void>((resolve) => {
    const headers = { ...req.headers, host: target.host };
    const out = http.request(
      { agent, host: target.hostname, port: target.port, method: req.method, path, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('end', () => resolve());
      },
    );
    out.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
      resolve();
    });
    out.end(body);
  });

export const startAwsStub = async (options: {
  secrets: Map<string, string>;
  dynamoEndpoint: string;
  /** The simulator's origin (its base path is kept in the request path). */
  parleyOrigin: string;
  parleyBasePath: string;
}): Promise<AwsStub> => {
  let calls: FloorCall[] = [];
  const agent = new http.Agent({ keepAlive: true });
  const dynamo = new URL(options.dynamoEndpoint);
  const parley = new URL(options.parleyOrigin);
  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };
  const server = http.createServer(async (req, res) => {
    const body = await readAll(req);
    const target = String(req.headers['x-amz-target'] ?? '');
    if (target.startsWith('secretsmanager.')) {
      const input = JSON.parse(body.toString('utf8') || '{}') as { SecretId?: string };
      calls.push({ kind: 'secret', id: input.SecretId ?? '' });
      const value = options.secrets.get(input.SecretId ?? '');
      if (value === undefined)
        return json(res, 400, { __type: 'ResourceNotFoundException', message: 'not found' });
      return json(res, 200, {
        ARN: input.SecretId,
        Name: input.SecretId,
        SecretString: value,
        VersionId: 'v1',
      });
    }
    if (target.startsWith('AmazonSQS.')) {
      const input = JSON.parse(body.toString('utf8') || '{}') as { MessageBody?: string };
      calls.push({ kind: 'sqs' });
      return json(res, 200, {
        MessageId: randomUUID(),
        MD5OfMessageBody: createHash('md5')
          .update(input.MessageBody ?? '')
          .digest('hex'),
        SequenceNumber: '1',
      });
    }
    if (target.startsWith('DynamoDB_')) {
      calls.push({ kind: 'dynamo', op: target.split('.')[1] ?? '?' });
      return forward(dynamo, req, body, res, agent, req.url ?? '/');
    }
    const url = req.url ?? '/';
    if (url.startsWith(options.parleyBasePath)) {
      calls.push({
        kind: 'parley',
        method: req.method ?? 'GET',
        path: url.slice(options.parleyBasePath.length).replace(/^\/+/, ''),
      });
      return forward(parley, req, body, res, agent, url);
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    take() {
      const out = calls;
      calls = [];
      return out;
    },
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
};
