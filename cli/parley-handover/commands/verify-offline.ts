// `parley-handover verify --offline`: an auditor's check with nothing of ours running, from files
// only (docs/AUDIT.md): the public key (PEM), a copy of the checkpoint bucket (`aws s3 sync`, or
// the local runtime's `.local/checkpoints-v2`) and one user's records (the export, `audit user <id>
// --json`, or a JSON list of records). The checkpoints name the user by its subjectRef: from the
// records file when it carries one (the export does), else `--subject-ref`; without either the
// head is found by a record's seq and hash, and a warning says why that is weaker. The verdict is
// the domain's (functions/domain/checkpoints/offline.ts).
import { createPublicKey } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  CheckpointFormatError,
  decodeStored,
  type StoredCheckpoint,
} from '../../../functions/domain/checkpoints/document';
import { type OfflineReport, verifyOffline } from '../../../functions/domain/checkpoints/offline';
import { isSubjectRef } from '../../../functions/domain/erasure/subject';
import type { HandoverRecord } from '../../../functions/domain/types';
import { UsageError } from '../../usage';
import type { CliIo, Format } from '../context';
import { printJson } from '../format';

export interface OfflineOptions {
  publicKey?: string;
  checkpoints?: string;
  records?: string;
  /** The user's subjectRef (verify's or the export's), when the records file has none. */
  subjectRef?: string;
}

/** A file the auditor named that cannot be used: exit 1, naming the file and what is wrong. */
class InputFileError extends Error {}

const readText = (file: string, option: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new InputFileError(`${option} ${file} cannot be read (${code}).`);
  }
};

const publicKeyOf = (file: string): string => {
  const pem = readText(file, '--public-key');
  try {
    if (createPublicKey(pem).asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error();
  } catch {
    throw new InputFileError(`--public-key ${file} is not an ECDSA P-256 public key in PEM.`);
  }
  return pem;
};

/** Every stored checkpoint of a copy of the bucket (its root, or its checkpoints/ folder). */
const checkpointsIn = (dir: string): StoredCheckpoint[] => {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new InputFileError(`--checkpoints ${dir} is not a folder.`);
  }
  const folder = existsSync(join(dir, 'checkpoints')) ? join(dir, 'checkpoints') : dir;
  const files = readdirSync(folder)
    .filter((f) => f.endsWith('.json'))
    .sort();
  if (files.length === 0) throw new InputFileError(`--checkpoints ${folder} holds no checkpoint.`);
  return files.map((f) => {
    try {
      return decodeStored(readFileSync(join(folder, f)));
    } catch (err) {
      if (!(err instanceof CheckpointFormatError)) throw err;
      throw new InputFileError(`${join(folder, f)}: ${err.message}`);
    }
  });
};

const RECORD_FIELDS: readonly [keyof HandoverRecord, string][] = [
  ['userId', 'string'],
  ['seq', 'number'],
  ['handoverId', 'string'],
  ['prevHash', 'string'],
  ['hash', 'string'],
  ['metadataDigest', 'string'],
  ['createdAt', 'string'],
];

/**
 * The export (`{ records: [...], subjectRef }`), `{ handovers: [...] }` (audit user --json) or a
 * list of records, one user's, any order; and the subjectRef the file names, if any.
 */
const recordsIn = (file: string): { records: HandoverRecord[]; subjectRef?: string } => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readText(file, '--records'));
  } catch (err) {
    if (err instanceof InputFileError) throw err;
    throw new InputFileError(`--records ${file} is not JSON.`);
  }
  const object = (Array.isArray(parsed) ? null : parsed) as {
    handovers?: unknown;
    records?: unknown;
    subjectRef?: unknown;
  } | null;
  const list = Array.isArray(parsed) ? parsed : (object?.records ?? object?.handovers);
  if (!Array.isArray(list)) {
    throw new InputFileError(
      `--records ${file} is neither a list of records, the export, nor the output of "audit user <id> --json".`,
    );
  }
  if (object?.subjectRef !== undefined && !isSubjectRef(object.subjectRef)) {
    throw new InputFileError(`--records ${file}: its subjectRef is not 64 lowercase hex digits.`);
  }
  list.forEach((r, i) => {
    const missing = RECORD_FIELDS.find(([name, type]) => typeof (r as never)?.[name] !== type);
    if (missing) {
      throw new InputFileError(`--records ${file}: record ${i + 1} has no ${missing[0]}.`);
    }
  });
  const users = new Set(list.map((r) => (r as HandoverRecord).userId));
  if (users.size > 1) {
    throw new InputFileError(
      `--records ${file} holds the records of ${users.size} users: give one user's.`,
    );
  }
  return {
    records: list as HandoverRecord[],
    ...(object?.subjectRef !== undefined ? { subjectRef: object.subjectRef as string } : {}),
  };
};

const line = (r: OfflineReport): string => {
  const verdict =
    !r.ok && r.firstBroken
      ? `BROKEN at seq ${r.firstBroken.seq} (${r.firstBroken.problem}); ${r.count} record(s) before it are sound`
      : `${r.count} record(s), hash chain intact`;
  const c = r.checkpoint;
  const coverage =
    c.status === 'none'
      ? `no checkpoint holds this user: ${c.notYetCheckpointed} record(s) not yet checkpointed`
      : `checkpoint ${c.checkpointId} ${c.status === 'verified' ? 'verified' : 'BROKEN'} at seq ${c.seq}` +
        (c.fault ? ` (${c.fault})` : '') +
        `, ${c.notYetCheckpointed} record(s) not yet checkpointed`;
  const chain = r.chain.fault
    ? `checkpoint chain BROKEN at ${r.chain.fault.checkpointId} (${r.chain.fault.fault})`
    : `${r.chain.checkpoints} checkpoint(s) ${r.chain.first}..${r.chain.newest}: signatures and chain verified`;
  return `user ${r.userId}: ${verdict}; ${coverage}; ${chain}`;
};

export const verifyOfflineCommand = (
  io: CliIo,
  format: Format,
  userId: string | undefined,
  options: OfflineOptions,
): number => {
  const missing = (['publicKey', 'checkpoints', 'records'] as const)
    .filter((k) => !options[k])
    .map((k) => `--${k.replace('K', '-k')}`);
  if (missing.length > 0) throw new UsageError(`verify --offline needs ${missing.join(', ')}.`);
  if (options.subjectRef !== undefined && !isSubjectRef(options.subjectRef)) {
    throw new UsageError("--subject-ref takes 64 lowercase hex digits (verify's subjectRef).");
  }
  try {
    const publicKeyPem = publicKeyOf(options.publicKey!);
    const checkpoints = checkpointsIn(options.checkpoints!);
    const { records, subjectRef: named } = recordsIn(options.records!);
    if (userId !== undefined && records.some((r) => r.userId !== userId)) {
      throw new InputFileError(`--records ${options.records} holds another user's records.`);
    }
    if (named !== undefined && options.subjectRef !== undefined && named !== options.subjectRef) {
      throw new InputFileError(
        `--records ${options.records} names another subjectRef than --subject-ref.`,
      );
    }
    const subjectRef = options.subjectRef ?? named;
    const report = verifyOffline({
      publicKeyPem,
      checkpoints,
      records,
      userId,
      ...(subjectRef !== undefined ? { subjectRef } : {}),
    });
    if (report.warning) io.stderr(`warning: ${report.warning}.\n`);
    if (format === 'json') printJson(io, report);
    else io.stdout(`${line(report)}\n`);
    return report.ok ? 0 : 1;
  } catch (err) {
    if (!(err instanceof InputFileError)) throw err;
    io.stderr(`${err.message}\n`);
    return 1;
  }
};
