import { pino, type Logger } from 'pino';

export type { Logger };

/** Personal fields of a profile (SPEC §4.2): never written to a log line, wherever they nest. */
export const personalFields = [
  'firstName',
  'surname',
  'email',
  'emailOld',
  'countryCode',
  'telephoneNumberNoCountryCode',
  'landlineNumber',
  'dateOfBirth',
  'dateOfDeath',
  'postalAddresses',
] as const;

/**
 * JSON logger on stdout. Redaction is a safety net only: code logs ids and codes, never payloads.
 * Bind `correlationId` with `logger.child({ correlationId })` for every line about a command.
 */
export function makeLogger(options: { level: string; name?: string }): Logger {
  return pino({
    level: options.level,
    base: options.name ? { name: options.name } : null,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: {
      paths: personalFields.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]),
      censor: '[personal data]',
    },
  });
}
