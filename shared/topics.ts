/** Topic names of SPEC §2; `env` is PROFILES_ENV. */
export const topics = (env: string) => ({
  commands: `customer-commands-${env}`,
  results: `customer-command-results-${env}`,
  dlq: `customer-commands-dlq-${env}`,
  /** Internal: the profile worker's schedule records for the scheduler (ids and dates only). */
  expirations: `customer-expirations-${env}`,
  customerChanged: (organisationId: number) => `customer-changed-${env}-${organisationId}`,
});

export type Topics = ReturnType<typeof topics>;

/** Header naming the client service that sent a command (SPEC §3.1). */
export const clientNameHeader = 'ET-Client-Name';
/** Header carrying a command's correlation id onto its result and events. */
export const correlationIdHeader = 'X-Correlation-Id';
