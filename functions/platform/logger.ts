// Structured JSON logging on Powertools Logger, behind the domain's `Log` port. Its formatter is
// the safety net: it redacts attributes whose keys look like credentials or message text from
// every line, whatever they came from (a call, a child's keys); callers are still expected never
// to pass such values. `addContext` puts the Lambda request id and cold start on each line.
// `sink` lets tests and the bench capture the lines.
import type { Context } from 'aws-lambda';
import { LogFormatter, LogItem, Logger } from '@aws-lambda-powertools/logger';
import type {
  ConstructorOptions,
  LogAttributes as PowertoolsAttributes,
  UnformattedAttributes,
} from '@aws-lambda-powertools/logger/types';
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

/** Prefix of an attribute renamed because Powertools owns its name (`message` -> `attr_message`). */
const RENAMED = 'attr_';

/** Whether an attribute key names a value that must never be logged. */
export const isSensitiveKey = (key: string): boolean => {
  const k = normalize(key.startsWith(RENAMED) ? key.slice(RENAMED.length) : key);
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

/** Top-level keys Powertools owns (it drops them from attributes): kept under RENAMED. */
const RESERVED_KEYS = new Set(['level', 'message', 'sampling_rate', 'service', 'timestamp']);

const renameReserved = (attributes: LogAttributes): LogAttributes => {
  const out: LogAttributes = {};
  for (const [key, value] of Object.entries(attributes)) {
    Object.defineProperty(out, RESERVED_KEYS.has(key) ? `${RENAMED}${key}` : key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
};

/**
 * Powertools' line (level, message, timestamp, service, the Lambda context's fields, the trace id)
 * followed by the attributes, redacted.
 */
export class RedactingLogFormatter extends LogFormatter {
  formatAttributes(
    attributes: UnformattedAttributes,
    additionalLogAttributes: PowertoolsAttributes,
  ): LogItem {
    const context = attributes.lambdaContext;
    return new LogItem({
      attributes: {
        level: attributes.logLevel,
        message: attributes.message,
        timestamp: this.formatTimestamp(attributes.timestamp),
        service: attributes.serviceName,
        cold_start: context?.coldStart,
        function_name: context?.functionName,
        function_memory_size: context?.memoryLimitInMB,
        function_arn: context?.invokedFunctionArn,
        function_request_id: context?.awsRequestId,
        sampling_rate: attributes.sampleRateValue,
        xray_trace_id: attributes.xRayTraceId,
        ...redact(additionalLogAttributes),
      },
    });
  }
}

type Sink = (line: string) => void;

/** What a logger shares with its children. */
interface Shared {
  sink?: Sink;
  /** What the root logger's last `addContext` found. */
  coldStart: boolean;
}

/** Powertools Logger that can print to a sink instead of stdout. */
class AppLogger extends Logger {
  constructor(
    options: ConstructorOptions,
    private readonly shared: Shared,
    private readonly isChild = false,
  ) {
    super(options);
  }

  // A child is made with its parent's context but would count its own first invocation as cold:
  // it reports its root's invocation instead.
  override getColdStart(): boolean {
    if (this.isChild) return this.shared.coldStart;
    this.shared.coldStart = super.getColdStart();
    return this.shared.coldStart;
  }

  // Where a line goes, only: what it holds is the formatter's.
  protected override printLog(logLevel: number, log: LogItem): void {
    const { sink } = this.shared;
    if (!sink) {
      super.printLog(logLevel, log);
      return;
    }
    log.prepareForPrint();
    sink(JSON.stringify(log.getAttributes(), this.getJsonReplacer()));
  }

  protected override createLogger(options?: ConstructorOptions): Logger {
    return new AppLogger(options ?? {}, this.shared, true);
  }
}

export interface LoggerOptions {
  /** @default POWERTOOLS_SERVICE_NAME, else "parley-handover" */
  serviceName?: string;
  /** DEBUG, INFO, WARN, ERROR, SILENT... @default POWERTOOLS_LOG_LEVEL (Powertools' default) */
  level?: string;
  /** Keys on every line (redacted like any attribute). */
  persistentKeys?: Record<string, string>;
  /** Receives each JSON line instead of stdout (tests, the bench). */
  sink?: Sink;
}

export type AppLog = Log & {
  /** A logger that adds `keys` to every line (e.g. handoverId, deliveryId). */
  child(keys: LogAttributes): AppLog;
  /** The invocation's request id and cold start on every later line, and on children made after. */
  addContext(context: Context): void;
};

const wrap = (logger: Logger): AppLog => {
  const emit =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, attributes?: LogAttributes): void => {
      if (attributes === undefined) logger[level](message);
      else logger[level](message, renameReserved(attributes));
    };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (keys) => wrap(logger.createChild({ persistentKeys: renameReserved(keys) })),
    addContext: (context) => logger.addContext(context),
  };
};

/** JSON-lines logger for the functions and the local runtime. */
export function createLogger(options: LoggerOptions = {}): AppLog {
  const level = options.level?.toUpperCase() as ConstructorOptions['logLevel'];
  const logger = new AppLogger(
    {
      serviceName:
        options.serviceName ?? (process.env.POWERTOOLS_SERVICE_NAME || 'parley-handover'),
      logFormatter: new RedactingLogFormatter(),
      ...(level ? { logLevel: level } : {}),
      ...(options.persistentKeys ? { persistentKeys: renameReserved(options.persistentKeys) } : {}),
    },
    { sink: options.sink, coldStart: false },
  );
  return wrap(logger);
}
