// A downstream for the bench: answers every forward 200 `{}` (no reply, no handover), at once.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export const startReceiver = async (): Promise<{ url: string; server: Server }> => {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/forward`, server };
};
