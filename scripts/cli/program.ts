// The `profiles` operator CLI: its subcommands, options and exit codes (wiring only). Every value
// is checked by a parser of arguments.ts before anything connects; each subcommand's work is in
// its own module, loaded only when it runs (so `--help` and a bad argument answer at once).
import { readFileSync } from 'node:fs';
import { Argument, Command, CommanderError, Option } from 'commander';
import { collectOffsets, parseCommandText, parseCustomerNumber, parseDate, parseOrganisationId, parsePartition, parseTimeoutMs, UsageError } from './arguments.ts';
import type { SendOptions } from './send.ts';
import type { TailOptions } from './tail.ts';
import type { ReceiptsOptions } from './receipts.ts';

/** What the subcommands do; tests give their own. A number returned is the exit code. */
export type Actions = {
  send: (command: Record<string, unknown>, options: SendOptions) => Promise<number>;
  tail: (options: TailOptions) => Promise<void>;
  dlqList: (options: { since?: Date; code?: string; values: boolean }) => Promise<void>;
  dlqReplay: (options: { partition: number; offsets: bigint[] }) => Promise<void>;
  verifyErasure: (target: { organisationId: number; customerNumber: string; values: string[] }) => Promise<number>;
  receipts: (options: ReceiptsOptions) => Promise<void>;
  republish: (organisationId: number) => Promise<void>;
  /** The command text when `send` is given none (or `-`). */
  readStdin: () => string;
  /** Where a failure is reported (stderr). */
  reportFailure: (error: unknown) => Promise<void>;
};

export const defaultActions: Actions = {
  send: async (command, options) => (await import('./send.ts')).sendCommand(command, options),
  tail: async (options) => (await import('./tail.ts')).tailEvents(options),
  dlqList: async (options) => (await import('./dlq.ts')).listDlq(options),
  dlqReplay: async (options) => (await import('./dlq.ts')).replayDlq(options),
  verifyErasure: async (target) => (await import('./verifyErasure.ts')).runVerifyErasure(target),
  receipts: async (options) => (await import('./receipts.ts')).listReceipts(options),
  republish: async (organisationId) => (await import('./republish.ts')).runRepublish(organisationId),
  readStdin: () => {
    if (process.stdin.isTTY) console.error('reading the command from standard input (end it with Ctrl-D)');
    return readFileSync(0, 'utf8');
  },
  reportFailure: async (error) => {
    const { describeFailure } = await import('./session.ts');
    console.error(`error: ${describeFailure(error)}`);
  },
};

/**
 * Exit codes. A bad argument exits 2 — but for `send`, whose 2 means "rejected": there a bad
 * argument, like a failure, means no result (1). `verify-erasure` that could not check exits 4
 * (scripts/verifyErasure.ts exitCodes).
 */
const exit = { usage: 2, failure: 1, sendUsage: 1, notVerified: 4 } as const;

/** Commander's own exits (help, a bad option) with this command's usage code; help stays 0. */
function usageExitCode(command: Command, code: number): Command {
  return command.exitOverride((error) => {
    throw new CommanderError(error.exitCode === 0 ? 0 : code, error.code, error.message);
  });
}

/** `--org <id>`, and `--organisation <id>` (the name the older scripts took) for the same. */
function withOrganisation(command: Command): Command {
  return command
    .addOption(new Option('--org <id>', 'organisation id').argParser(parseOrganisationId))
    .addOption(new Option('--organisation <id>', 'the same as --org').argParser(parseOrganisationId).conflicts('org').hideHelp());
}

function organisationOf(command: Command): number {
  const { org, organisation } = command.opts<{ org?: number; organisation?: number }>();
  const id = org ?? organisation;
  if (id === undefined) command.error("error: required option '--org <id>' not specified");
  return id;
}

const customerOption = (description: string) => new Option('--customer <number>', description).argParser(parseCustomerNumber);
const sinceOption = (description: string) => new Option('--since <date>', `${description} (YYYY-MM-DD, or an ISO 8601 instant with Z or an offset)`).argParser(parseDate);

/** Where commander's help and errors go. @defaultValue stdout and stderr */
export type Output = { writeOut: (text: string) => void; writeErr: (text: string) => void };

/** The whole CLI; `run` gives the exit code of one invocation. */
export function makeProgram(actions: Actions = defaultActions, output?: Output): { program: Command; run: (argv: string[]) => Promise<number> } {
  const writeErr = output?.writeErr ?? ((text: string) => process.stderr.write(text));
  let exitCode = 0;
  /** Runs an action: a refusal (an unknown offset, a topic that does not exist) exits with `codes.usage`, a failure with `codes.failure`. */
  const act = async (codes: { usage: number; failure: number }, work: () => Promise<number | void>) => {
    try {
      exitCode = (await work()) ?? 0;
    } catch (error) {
      if (error instanceof UsageError) {
        writeErr(`error: ${error.message}\n`);
        exitCode = codes.usage;
      } else {
        await actions.reportFailure(error);
        exitCode = codes.failure;
      }
    }
  };

  const program = usageExitCode(new Command('profiles'), exit.usage)
    .description('Operator CLI of the customer profiles suite. Uses the suite\'s configuration (the service variables, or .stack/env of the local stack when none is set) and PROFILES_ENV.')
    .showHelpAfterError('(add --help for usage)');
  // Before the subcommands: they inherit it.
  if (output) program.configureOutput(output);

  const send = program
    .command('send')
    .description('send one command the way a client service does, and print its result (with --events, also the events it caused)')
    .argument('[command...]', 'the command as JSON (several words are joined with spaces); "-" or none: read it from standard input')
    .option('--key <key>', 'Kafka key (default: <organisationId>:<customerNumber>, or the commandId)')
    .option('--client <name>', 'ET-Client-Name header, <company>-<application>', 'cli-profiles')
    .option('--correlation-id <id>', 'X-Correlation-Id header (default: a fresh UUID)')
    .option('--events', 'also print the events the command caused', false)
    .addOption(new Option('--timeout <ms>', 'how long to wait for the result').default(15_000).argParser(parseTimeoutMs))
    .addHelpText('after', `
Exit codes: 0 accepted, 2 rejected, 1 no result within the timeout (or a bad argument, or a failure).

Examples:
  profiles send '{"commandId":"c-1","type":"CreateProfile","organisationId":1,"payload":{"createdBy":"jane","createdByChannel":"web","firstName":"Kari","surname":"Nordmann"}}'
  echo '{…}' | profiles send --events -`)
    .action(async (words: string[], options: SendOptions, command: Command) => {
      const text = words.length === 0 || (words.length === 1 && words[0] === '-') ? actions.readStdin() : words.join(' ');
      let parsed: Record<string, unknown>;
      try {
        parsed = parseCommandText(text);
      } catch (error) {
        return command.error(`error: ${(error as Error).message}`);
      }
      await act({ usage: exit.sendUsage, failure: exit.failure }, () => actions.send(parsed, options));
    });
  usageExitCode(send, exit.sendUsage);

  const tail = withOrganisation(program.command('tail'))
    .description("print an organisation's CustomerChanged events, decoded, one JSON line each ({partition, offset, timestamp, key, event})")
    .option('-f, --follow', 'keep reading new events until Ctrl-C (without it: the events the topic holds now, then exit)', false)
    .option('--from-beginning', 'with --follow: start at the beginning of the topic rather than its end', false)
    .addOption(sinceOption('start at the first event written at or after this time').conflicts('fromBeginning'))
    .addOption(customerOption("only this customer's events"))
    .addHelpText('after', `
Examples:
  profiles tail --org 1                      # every event the topic holds now (a compacted topic: each customer's latest at least)
  profiles tail --org 1 --follow             # new events until Ctrl-C
  profiles tail --org 1 --follow --since 2026-12-01T08:00:00Z --customer 1000042`)
    .action(async ({ follow, fromBeginning, since, customer }: { follow: boolean; fromBeginning: boolean; since?: Date; customer?: string }, command: Command) => {
      const organisationId = organisationOf(command);
      await act({ usage: exit.usage, failure: exit.failure }, () => actions.tail({ organisationId, follow, fromBeginning, ...(since ? { since } : {}), ...(customer ? { customer } : {}) }));
    });
  usageExitCode(tail, exit.usage);

  const dlq = usageExitCode(program.command('dlq'), exit.usage).description('list and replay the dead-letter queue (customer-commands-dlq-<env>)');
  const dlqList = dlq
    .command('list')
    .description("list the DLQ's records, one JSON line each: partition, offset, timestamp, key, size, errorHeaders (error-code, error-message, original-*), the client's header names; never the client's bytes unless --values")
    .option('--values', "also print each value and the client's header values, base64 (they may hold personal data)", false)
    .addOption(sinceOption('only records written at or after this time'))
    .option('--code <error-code>', 'only records with this error-code (MALFORMED_JSON, TOO_LARGE, …)')
    .action(async (options: { values: boolean; since?: Date; code?: string }) => {
      await act({ usage: exit.usage, failure: exit.failure }, () => actions.dlqList(options));
    });
  usageExitCode(dlqList, exit.usage);
  const dlqReplay = dlq
    .command('replay')
    .description("send DLQ records back to the command topic (once their cause is fixed): the original key, value and client headers, without the DLQ's error headers, plus replayed-from-dlq: <topic>/<partition>/<offset>")
    .addArgument(new Argument('<offset...>', 'offsets of the records to replay (as `dlq list` shows them)').argParser(collectOffsets))
    .addOption(new Option('--partition <n>', 'DLQ partition of the offsets').default(0).argParser(parsePartition))
    .addHelpText('after', `
Every offset is checked before anything is sent: an unknown one, or a record cut to fit the DLQ,
refuses the whole replay (exit 2). Prints one JSON line per record sent, with where it went.

Example:
  profiles dlq replay 12 13`)
    .action(async (offsets: bigint[], options: { partition: number }) => {
      await act({ usage: exit.usage, failure: exit.failure }, () => actions.dlqReplay({ partition: options.partition, offsets }));
    });
  usageExitCode(dlqReplay, exit.usage);

  const verify = withOrganisation(program.command('verify-erasure'))
    .description("check that a customer was erased: a complete receipt, no trace in MongoDB or Redis, and what the organisation's event topic still holds until compaction")
    .addOption(customerOption('the erased customer').makeOptionMandatory())
    .option('--value <value>', 'a personal value of the customer that must be found nowhere (repeat for several)', (value: string, previous: string[]) => [...previous, value], [] as string[])
    .addHelpText('after', `
Exit codes: 0 erased, no trace; 3 erased in MongoDB and Redis, snapshots awaiting compaction in the
event topic; 1 a trace or an incomplete erasure; 2 bad usage; 4 a service did not answer.

Example:
  profiles verify-erasure --org 1 --customer 1000042 --value kari@example.com`)
    .action(async (options: { customer: string; value: string[] }, command: Command) => {
      const organisationId = organisationOf(command);
      await act({ usage: exit.usage, failure: exit.notVerified }, () => actions.verifyErasure({ organisationId, customerNumber: options.customer, values: options.value }));
    });
  usageExitCode(verify, exit.usage);

  const receipts = withOrganisation(program.command('receipts'))
    .description("print an organisation's erasure receipts from MongoDB, one JSON line each, oldest first (no personal data)")
    .addOption(customerOption("only this customer's receipt"))
    .addOption(sinceOption('only erasures completed at or after this time'))
    .action(async ({ customer, since }: { customer?: string; since?: Date }, command: Command) => {
      const organisationId = organisationOf(command);
      await act({ usage: exit.usage, failure: exit.failure }, () => actions.receipts({ organisationId, ...(customer ? { customer } : {}), ...(since ? { since } : {}) }));
    });
  usageExitCode(receipts, exit.usage);

  const republish = withOrganisation(program.command('republish'))
    .description("rebuild an organisation's event topic from MongoDB: each live customer's latest event, each erased customer's DELETED event")
    .addHelpText('after', '\nProgress on stderr, a JSON summary on stdout. Safe while the suite runs.')
    .action(async (_options: unknown, command: Command) => {
      const organisationId = organisationOf(command);
      await act({ usage: exit.usage, failure: exit.failure }, () => actions.republish(organisationId));
    });
  usageExitCode(republish, exit.usage);

  const run = async (argv: string[]) => {
    exitCode = 0;
    try {
      await program.parseAsync(argv, { from: 'user' });
      return exitCode;
    } catch (error) {
      if (error instanceof CommanderError) return error.exitCode;
      await actions.reportFailure(error);
      return exit.failure;
    }
  };
  return { program, run };
}
