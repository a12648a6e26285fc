// The demo bot: a tiny bot engine behind the Bot Service's downstreamUrl (local only, never
// deployed). It checks each forward's signature, answers a few questions, and for anything else
// asks for a handover to the Agent Service with the seed's reason, `question_too_complex`. It
// prints the notifications it gets (one line each), as a receiver should take them: signature
// checked, a repeated or stale `seq` of a user dropped.
import { type ForwardAnswer, type ForwardReceiver, startForwardReceiver } from './forward-receiver';

const ANSWERS: { match: RegExp; reply: string }[] = [
  {
    match: /\b(opening hours|open|hours)\b/i,
    reply: 'We are open Monday to Friday, 9:00 to 17:00.',
  },
  { match: /\b(shipping|delivery|deliver)\b/i, reply: 'Orders ship within two working days.' },
  { match: /\b(return|returns|refund policy)\b/i, reply: 'You can return items within 30 days.' },
  {
    match: /^\s*(hi|hello|hey)\W*$/i,
    reply: 'Hi! I am the demo bot. Ask me about opening hours, shipping or returns.',
  },
];

/** The bot's answer to one message text: a known reply, or a handover to `agentService`. */
export const botAnswer = (text: string, agentService = 'Agent Service'): ForwardAnswer => {
  const known = ANSWERS.find((a) => a.match.test(text));
  return known
    ? { reply: known.reply }
    : { handover: { newOwner: agentService, metadata: { reason: 'question_too_complex' } } };
};

export interface DemoBotOptions {
  /** The Bot Service's signing secret (a function when known only later). */
  signingSecret: string | (() => string | undefined);
  /** Where questions it cannot answer go (identification or name). @default 'Agent Service' */
  agentService?: string;
  port?: number;
  /** Where it prints the notifications it gets. @default nowhere */
  out?: (line: string) => void;
  /** Service names by identification, for those lines. */
  names?: Record<string, string>;
}

export const startDemoBot = (options: DemoBotOptions): Promise<ForwardReceiver> =>
  startForwardReceiver({
    signingSecret: options.signingSecret,
    port: options.port,
    label: 'demo bot',
    out: options.out,
    names: options.names,
    onForward: async (forward) =>
      // Events (typing, reads) and other kinds need no answer.
      forward.type === 'message' && forward.text
        ? botAnswer(forward.text, options.agentService)
        : {},
  });
