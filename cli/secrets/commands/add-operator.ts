// `add-operator`: a named operator with a fresh token, in the auditors' secret beside the auditors
// (`operators`), printed once. An operator may do all an auditor may, and act (release users,
// redeliver notifications); the name appears in logs and in its records, the token never.
import { addNamedCommand } from './add-named';

export const registerAddOperator = addNamedCommand({
  role: 'operator',
  nameHelp: 'who the token is for (appears in logs and records; the token never)',
  help: 'Adds an operator to the auditors secret with a fresh token, printed once. Operators may do\nall an auditor may, and act: release users, redeliver notifications. The name appears in logs\nand in the records of their actions (operator:<name>), the token never.',
});
