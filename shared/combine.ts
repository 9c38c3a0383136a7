// Group commit (used by the erasure sagas running at once in one process): calls made while a batch is
// waiting for its turn go out together in one round trip (one bulk write, one produce), each
// caller still awaiting its own outcome. Nothing is delayed on purpose: a lone call goes out as
// soon as its turn comes.

/**
 * `run` gets up to `max` operations and returns one result per operation, in order. `turn` says
 * when a batch may go (a lock shared with other writers); by default one batch at a time, so that
 * what is called while one is on its way goes out in the next.
 */
export function combine<Op, Result>(
  run: (operations: Op[]) => Promise<Result[]>,
  options: { max: number; turn?: <T>(work: () => Promise<T>) => Promise<T> },
): (operation: Op) => Promise<Result> {
  const turn = options.turn ?? oneAtATime();
  const waiting: { operation: Op; resolve: (result: Result) => void; reject: (error: unknown) => void }[] = [];
  let scheduled = false;
  const schedule = () => {
    scheduled = true;
    void turn(async () => {
      scheduled = false;
      const taken = waiting.splice(0, options.max);
      if (waiting.length > 0) schedule();
      if (taken.length === 0) return;
      try {
        const results = await run(taken.map((entry) => entry.operation));
        taken.forEach((entry, index) => entry.resolve(results[index]!));
      } catch (error) {
        for (const entry of taken) entry.reject(error);
      }
    });
  };
  return (operation) =>
    new Promise<Result>((resolve, reject) => {
      waiting.push({ operation, resolve, reject });
      if (!scheduled) schedule();
    });
}

/** A turn that runs its works one at a time, in call order (a failed one does not stop the rest). */
export function oneAtATime(): <T>(work: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(work: () => Promise<T>): Promise<T> => {
    const run = tail.then(work, work);
    tail = run.catch(() => undefined);
    return run;
  };
}
