// Where checkpoints are kept: the same keys in the S3 bucket (AWS) and in the local directory, so
// that `aws s3 sync` of the bucket gives an auditor exactly what `verify --offline` reads.
//
//   checkpoints/{inverted}-{checkpointId}.json   the stored checkpoint (document and signature)
//   users/{subjectRef}/{inverted}                an empty note: that checkpoint holds the user
//
// `inverted` is 999999999999 - index, so an ascending listing (S3's only order) is newest first.
// `subjectRef` is hex HMAC-SHA256(subject key, userId) (domain/erasure/subject.ts), never the id or
// a plain hash of it: a key of the bucket, kept for years under Object Lock, names nobody to
// whoever lacks the key.

export const CHECKPOINT_PREFIX = 'checkpoints/';
export const USER_NOTE_PREFIX = 'users/';

const MAX_INDEX = 999_999_999_999;
const ID = /^\d{12}$/;

const invert = (checkpointId: string): string => {
  if (!ID.test(checkpointId)) throw new RangeError('not a checkpoint id');
  return String(MAX_INDEX - Number(checkpointId)).padStart(12, '0');
};

export const checkpointKey = (checkpointId: string): string =>
  `${CHECKPOINT_PREFIX}${invert(checkpointId)}-${checkpointId}.json`;

/** The checkpoint id a key of checkpointKey names, or null for any other key. */
export const checkpointIdOfKey = (key: string): string | null => {
  const m = /^(?:.*\/)?(\d{12})-(\d{12})\.json$/.exec(key);
  if (!m || invert(m[2]!) !== m[1]) return null;
  return m[2]!;
};

export const userNotePrefix = (subjectRef: string): string => `${USER_NOTE_PREFIX}${subjectRef}/`;

export const userNoteKey = (subjectRef: string, checkpointId: string): string =>
  `${userNotePrefix(subjectRef)}${invert(checkpointId)}`;

/** The checkpoint id of a note's key (its last segment), or null. */
export const checkpointIdOfNote = (key: string): string | null => {
  const m = /(\d{12})$/.exec(key);
  return m ? String(MAX_INDEX - Number(m[1])).padStart(12, '0') : null;
};
