import { pino, type Logger, type LoggerOptions } from 'pino';

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
 * JSON logger on stdout (on stderr for tools whose stdout is their output, `to: 'stderr'`).
 * Redaction is a safety net only: code logs ids and codes, never payloads.
 * Bind `correlationId` with `logger.child({ correlationId })` for every line about a command.
 */
export function makeLogger(options: { level: string; name?: string; to?: 'stdout' | 'stderr' }): Logger {
  const settings: LoggerOptions = {
    level: options.level,
    base: options.name ? { name: options.name } : null,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: {
      paths: personalFields.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]),
      censor: '[personal data]',
    },
  };
  return options.to === 'stderr' ? pino(settings, pino.destination({ dest: 2, sync: true })) : pino(settings);
}
