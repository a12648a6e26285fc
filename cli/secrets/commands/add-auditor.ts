// `add-auditor`: a named auditor with a fresh token, printed once; the name appears in logs, the
// token never.
import { addNamedCommand } from './add-named';

export const registerAddAuditor = addNamedCommand({
  role: 'auditor',
  nameHelp: 'who the token is for (appears in logs; the token never does)',
  help: 'Adds an auditor with a fresh token, printed once. The name appears in logs, the token never.',
});
