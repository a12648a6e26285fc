// Request shapes of the checkpoint routes (DESIGN.md "Signed checkpoints").
import * as z from 'zod/mini';
import { operatorReasonSchema } from './api';
import './zod-config';

/** POST /checkpoints: an operator may say why (it goes into the log, not the checkpoint). */
export const checkpointRequestSchema = z.strictObject({
  reason: z.optional(operatorReasonSchema),
});
