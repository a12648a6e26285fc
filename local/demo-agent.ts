// The demo agent desk: behind the Agent Service's downstreamUrl (local only, never deployed). It
// checks each forward's signature, replies to the user through this service's
// `POST /users/{userId}/messages` (as an agent desk would), and on "bye" hands the user back to the
// account's default Service with `POST /handovers`. It prints the notifications it gets, as the
// demo bot does, and `PUT /_demo/fault` makes it a desk that is down (the failover walk).
import { type ForwardReceiver, startForwardReceiver } from './forward-receiver';

export interface DemoAgentOptions {
  /** The Agent Service's signing secret. */
  signingSecret: string | (() => string | undefined);
  port?: number;
  /** The agent's display name in its messages. @default 'Sam' */
  agentName?: string;
  /** Where it prints the notifications it gets and its fault mode. @default nowhere */
  out?: (line: string) => void;
  /** Service names by identification, for those lines. */
  names?: Record<string, string>;
}

export interface DemoAgent extends ForwardReceiver {
  /** Where the desk reaches this service, with the Agent Service's apiToken. */
  connect(apiUrl: string, apiToken: string): void;
}

const isBye = (text: string) => /\b(bye|goodbye)\b/i.test(text);
const isBilling = (text: string) => /\b(charged|invoice|refund|payment)\b/i.test(text);

export const startDemoAgent = async (options: DemoAgentOptions): Promise<DemoAgent> => {
  const name = options.agentName ?? 'Sam';
  let api: { url: string; token: string } | null = null;
  // What was already done for a delivery, so a retried forward repeats nothing.
  const done = new Map<string, Set<'reply' | 'handback'>>();

  const call = async (method: 'POST', path: string, body: unknown) => {
    if (!api) throw new Error('The demo agent is not connected to the service yet.');
    const res = await fetch(api.url.replace(/\/+$/, '') + path, {
      method,
      headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`The service answered HTTP ${res.status} to ${path}.`);
  };

  const once = async (deliveryId: string, step: 'reply' | 'handback', run: () => Promise<void>) => {
    const steps = done.get(deliveryId) ?? new Set();
    done.set(deliveryId, steps);
    if (steps.has(step)) return;
    await run();
    steps.add(step);
  };

  const receiver = await startForwardReceiver({
    signingSecret: options.signingSecret,
    port: options.port,
    label: 'demo desk',
    out: options.out,
    names: options.names,
    onForward: async (forward) => {
      const { userId, text, deliveryId } = forward;
      if (forward.type !== 'message' || !userId || !text) return {};
      const path = `/users/${encodeURIComponent(userId)}/messages`;
      if (isBye(text)) {
        await once(deliveryId, 'reply', () =>
          call('POST', path, { text: 'You are welcome. Goodbye!' }),
        );
        await once(deliveryId, 'handback', () =>
          call('POST', '/handovers', {
            userId,
            newOwner: 'default',
            metadata: { reason: 'conversation_closed', agent: name },
          }),
        );
        return {};
      }
      const greeting = `Hi, this is ${name} from the service desk, taking over from the bot.`;
      const reply = !forward.handover
        ? `${name} here: noted, I will look into that for you.`
        : isBilling(text)
          ? `${greeting} I have corrected it on your account: you will see the change within three working days.`
          : `${greeting} How can I help?`;
      await once(deliveryId, 'reply', () => call('POST', path, { text: reply }));
      return {};
    },
  });

  return Object.assign(receiver, {
    connect(apiUrl: string, apiToken: string) {
      api = { url: apiUrl, token: apiToken };
    },
  });
};
