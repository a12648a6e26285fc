// Parley's callback bodies (docs/PARLEY.md, "Callbacks Parley sends to a Service"), built in one
// place: the simulator sends them, and the benchmarks and the tests post them to the webhook the
// way Parley would. A test of what the service does with a body Parley would never send writes
// that body out itself.

/** The user a callback is about, as Parley sends it. */
export interface CallbackUser {
  id: string;
  uniqueIdentifier: string | null;
  additionalInformation: unknown;
}

export interface MessageCallback {
  type: 'message';
  body: { id: number | string; message: string; time: number; typeId: number; user: CallbackUser };
}

export interface EventCallback {
  type: 'event';
  body: { name: string; body: unknown; user: CallbackUser };
}

export type ParleyCallback = MessageCallback | EventCallback;

const callbackUser = (id: string): CallbackUser => ({
  id,
  uniqueIdentifier: null,
  additionalInformation: null,
});

/** A user's message (`typeId` 1); Parley's message ids are unique, and the service dedupes on them. */
export const messageCallback = (input: {
  userId: string;
  id: number | string;
  text: string;
  /** Unix seconds. @default now */
  time?: number;
}): MessageCallback => ({
  type: 'message',
  body: {
    id: input.id,
    message: input.text,
    time: input.time ?? Math.floor(Date.now() / 1000),
    typeId: 1,
    user: callbackUser(input.userId),
  },
});

/** An event of the user's (e.g. `startTyping`). */
export const eventCallback = (input: {
  userId: string;
  name: string;
  body?: unknown;
}): EventCallback => ({
  type: 'event',
  body: {
    name: input.name,
    body: input.body === undefined ? {} : input.body,
    user: callbackUser(input.userId),
  },
});

/** The raw body Parley POSTs to a callback URL. */
export const callbackJson = (callback: ParleyCallback): string => JSON.stringify(callback);
