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
