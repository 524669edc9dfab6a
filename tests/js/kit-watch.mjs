// Watching a visit with the client kit against the emulators: every state kept, and waits on a state
// (resolved from the kit's own callback, with a deadline) instead of sleeps.
import { driveVisit, firestoreSource, watchVisit } from "../../clients/web/dist/index.js";

/** Watch `appointmentId` as `client` (its own Firestore and Functions); `options` go to the kit. A
 * `source` option replaces the appointment's listener and callable (e.g. call-only, a counting join). */
export function watching(client, appointmentId, { source, ...options } = {}) {
  const states = [];
  const waiters = new Set();
  const onState = (state) => {
    states.push(state);
    for (const waiter of waiters) waiter.check();
  };
  const kit = { firestore: client.db, functions: client.functions, ...options };
  const watch = source ? driveVisit(source(kit), onState, kit) : watchVisit(appointmentId, onState, kit);
  return {
    states,
    watch,
    kinds: () => states.map((state) => state.kind),
    /** The `n`th state of `kind` (1 = the first) for which `where(state)` holds, once it has been
     * reported; rejects at the deadline. */
    until(kind, { n = 1, ms = 60_000, where = () => true } = {}) {
      return new Promise((resolve, reject) => {
        const waiter = {
          check() {
            const found = states.filter((state) => state.kind === kind && where(state));
            if (found.length < n) return;
            waiters.delete(waiter);
            clearTimeout(timer);
            resolve(found[n - 1]);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no state ${kind} (#${n}) within ${ms} ms; states: ${states.map((s) => s.kind).join(", ")}`));
        }, ms);
        waiters.add(waiter);
        waiter.check();
      });
    },
  };
}

/** The kit's source with the appointment's listener refused (as for an account that may not read it):
 * every state then comes from the real callable's answers. */
export function callOnly(appointmentId) {
  return (kit) => ({
    listen(_onVisit, onError) {
      queueMicrotask(() => onError(Object.assign(new Error("listener refused"), { code: "permission-denied" })));
      return () => undefined;
    },
    join: () => firestoreSource(appointmentId, kit).join(),
  });
}

/** The kit's real source, counting its join calls (`count.calls`) and their settled answers (`count.settled`). */
export function counting(appointmentId) {
  const count = { calls: 0, settled: 0 };
  const source = (kit) => {
    const real = firestoreSource(appointmentId, kit);
    return {
      listen: real.listen,
      join() {
        count.calls += 1;
        return real.join().finally(() => {
          count.settled += 1;
        });
      },
    };
  };
  return { count, source };
}
