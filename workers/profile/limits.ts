// Every limit a command meets (SPEC §3.4), in one place: validation, decisions and the limits table
// of docs/commands.md all read them from here. Each is chosen so that a profile document, its event
// and a command's result stay far below MongoDB's 16 MB and Kafka's 1 MB whatever a client sends.

export const limits = {
  /** Bytes of one command as it arrives on the topic (JSON or Avro); a larger one is not decoded. */
  commandBytes: 256 * 1024,
  /** Bytes of a command's Kafka key: it is stored with the command's outcome and keys its result. */
  keyBytes: 1024,
  /** Fields of any object of a command: the envelope, the payload, a postal address. */
  fieldsPerObject: 64,
  /** Lists a profile holds. */
  postalAddresses: 10,
  preferences: 100,
  customerAccounts: 100,
  relatedCustomerNumbers: 1_000,
  /** Values of one preference definition. */
  allowedValues: 200,
} as const;

/** The message of a LIMIT_EXCEEDED rejection for a profile's list: it names the list and its cap. */
export const profileListLimitMessage = (list: 'postalAddresses' | 'preferences' | 'customerAccounts' | 'relatedCustomerNumbers') =>
  `${list}: at most ${limits[list]} per profile`;
