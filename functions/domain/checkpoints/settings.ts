// The checkpoints' fixed settings, apart from the job so that the configuration schema can read
// them without importing the job (and, through it, the ports the configuration itself feeds).

/** No record of this service predates it (its first version shipped in 2026). */
export const CHECKPOINT_GENESIS = '2026-01-01T00:00:00.000Z';
/** Checkpoints one run writes at most; a bigger collection goes on at the next run. */
export const CHECKPOINTS_PER_RUN = 20;
