// Structured JSON logging on Powertools Logger, behind the domain's `Log` port. A safety net
// redacts attributes whose keys look like credentials or message text before anything is printed;
// callers are still expected never to pass such values. `sink` lets tests capture the lines.
import { type LogItem, Logger } from '@aws-lambda-powertools/logger';
import type { ConstructorOptions } from '@aws-lambda-powertools/logger/types';
import type { Log, LogAttributes } from '../domain/ports';

export const REDACTED = '[redacted]';

/** Keys containing one of these (case and separators ignored) are redacted. */
const SENSITIVE_PARTS = [
  'authorization',
  'token',
  'secret',
  'password',
  'passwd',
  'signature',
  'apikey',
  'cookie',
  'credential',
];
/** Keys equal to one of these (case and separators ignored) are redacted: message text. */
const SENSITIVE_KEYS = new Set([
  'text',
  'message',
  'messagetext',
  'body',
  'messagebody',
  'rawbody',
]);
const MAX_DEPTH = 8;

const normalize = (key: string): string => key.toLowerCase().replace(/[^a-z0-9]/g, '');

/** Whether an attribute key names a value that must never be logged. */
export const isSensitiveKey = (key: string): boolean => {
  const k = normalize(key);
  return SENSITIVE_KEYS.has(k) || SENSITIVE_PARTS.some((part) => k.includes(part));
};

const redactValue = (value: unknown, depth: number, seen: WeakSet<object>): unknown => {
  if (value === null || typeof value !== 'object') return value;
  // Errors are formatted by Powertools (name, location, message, stack); our messages are safe.
  if (value instanceof Error || value instanceof Date) return value;
  if (seen.has(value)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[too deep]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    // Own data properties only; a key like "__proto__" is defined, never assigned.
    Object.defineProperty(out, key, {
      value: isSensitiveKey(key) ? REDACTED : redactValue(v, depth + 1, seen),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
};

/** A copy of `attributes` with sensitive keys replaced by '[redacted]', at any depth. */
export const redact = (attributes: LogAttributes): LogAttributes =>
  redactValue(attributes, 0, new WeakSet()) as LogAttributes;

/** Top-level keys Powertools owns; an attribute with one of these names is kept as `attr_{key}`. */
const RESERVED_KEYS = new Set(['level', 'message', 'sampling_rate', 'service', 'timestamp']);

const prepare = (attributes: LogAttributes): LogAttributes => {
  const out = redact(attributes);
  for (const key of Object.keys(out)) {
    if (RESERVED_KEYS.has(key)) {
      out[`attr_${key}`] = out[key];
      delete out[key];
    }
  }
  return out;
};

type Sink = (line: string) => void;

/** Powertools Logger that can print to a sink instead of stdout. */
class SinkLogger extends Logger {
  constructor(
    options: ConstructorOptions,
    private readonly sink?: Sink,
  ) {
    super(options);
  }

  protected override printLog(logLevel: number, log: LogItem): void {
    if (!this.sink) {
      super.printLog(logLevel, log);
      return;
    }
    log.prepareForPrint();
    this.sink(JSON.stringify(log.getAttributes(), this.getJsonReplacer()));
  }

  protected override createLogger(options?: ConstructorOptions): Logger {
    return new SinkLogger(options ?? {}, this.sink);
  }
}

export interface LoggerOptions {
  /** @default POWERTOOLS_SERVICE_NAME, else "parley-handover" */
  serviceName?: string;
  /** DEBUG, INFO, WARN, ERROR, SILENT... @default POWERTOOLS_LOG_LEVEL (Powertools' default) */
  level?: string;
  /** Keys on every line (redacted like any attribute). */
  persistentKeys?: Record<string, string>;
  /** Receives each JSON line instead of stdout (tests). */
  sink?: Sink;
}

export type AppLog = Log & {
  /** A logger that adds `keys` to every line (e.g. handoverId, deliveryId). */
  child(keys: LogAttributes): AppLog;
};

const wrap = (logger: Logger): AppLog => {
  const emit =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, attributes?: LogAttributes): void => {
      if (attributes === undefined) logger[level](message);
      else logger[level](message, prepare(attributes));
    };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (keys) => wrap(logger.createChild({ persistentKeys: prepare(keys) })),
  };
};

/** JSON-lines logger for the functions and the local runtime. */
export function createLogger(options: LoggerOptions = {}): AppLog {
  const level = options.level?.toUpperCase() as ConstructorOptions['logLevel'];
  const logger = new SinkLogger(
    {
      serviceName:
        options.serviceName ?? (process.env.POWERTOOLS_SERVICE_NAME || 'parley-handover'),
      ...(level ? { logLevel: level } : {}),
      ...(options.persistentKeys ? { persistentKeys: prepare(options.persistentKeys) } : {}),
    },
    options.sink,
  );
  return wrap(logger);
}
