// The hello-world Lambda entry: no import, no I/O.
export const handler = async (): Promise<{ statusCode: number; body: string }> => ({
  statusCode: 200,
  body: '{"hello":"world"}',
});
