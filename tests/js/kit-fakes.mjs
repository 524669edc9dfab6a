// Fakes for the client kit's state machine (clients/web): a clock that only moves when a test moves it,
// and a source whose appointment reads and join answers the test hands in.
export const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);

/** Let the kit's promise callbacks run (a join answer settles on the microtask queue). */
export const flush = () => new Promise((resolve) => setImmediate(resolve));

export function fakeClock(start = T0) {
  let now = start;
  let timers = [];
  let order = 0;
  return {
    now: () => now,
    setTimer(run, ms) {
      const timer = { at: now + ms, run, order: order++ };
      timers.push(timer);
      return () => {
        timers = timers.filter((t) => t !== timer);
      };
    },
    /** Move time on by `ms`, running each timer due on the way at its own time. */
    async advance(ms) {
      const end = now + ms;
      for (;;) {
        timers.sort((a, b) => a.at - b.at || a.order - b.order);
        const next = timers[0];
        if (next === undefined || next.at > end) break;
        timers.shift();
        now = Math.max(now, next.at);
        next.run();
        await flush();
      }
      now = end;
      await flush();
    },
    get timers() {
      return timers.length;
    },
  };
}

/** A confirmed video visit with its room, as the kit reads one (VisitView); `fields` override. */
export function visit(fields = {}) {
  return {
    type: "video", status: "confirmed", startTime: T0 + 5 * 60_000, endTime: T0 + 35 * 60_000,
    roomName: "room-one", providerRoomId: null, doctorJoined: false, inLobby: false, admitted: false,
    denied: false, recordingConsent: null, doctorInRoom: false, patientInRoom: false, ...fields,
  };
}

/** A join answer for `room`, expiring `ttl` seconds after the clock's now. */
export function answer(clock, { room = "room-one", ttl = 3600, provider = "jitsi", token = "t1" } = {}) {
  return {
    token, roomName: room, roomUrl: `https://meet.example.test/${room}`, provider, role: "guest",
    expiresAt: Math.floor(clock.now() / 1000) + ttl,
  };
}

/** A callable refusal as the Firebase SDK rejects with it. */
export function refused(code, details) {
  return Object.assign(new Error(code), { code: `functions/${code}`, details });
}

/**
 * The kit's source: `visits` are pushed by the test (`push(view | null)`, `fail(error)`), and each join call
 * takes the next entry of `replies` (an answer, a refusal, or a function of the clock giving either). A
 * reply of `hold` keeps the call in flight until the test calls `release(value)`.
 */
export function fakeSource(clock, replies = []) {
  const source = {
    calls: [],
    listening: false,
    unsubscribed: 0,
    held: null,
    onVisit: null,
    onError: null,
    listen(onVisit, onError) {
      source.listening = true;
      source.onVisit = onVisit;
      source.onError = onError;
      return () => {
        source.listening = false;
        source.unsubscribed += 1;
      };
    },
    join() {
      source.calls.push(clock.now());
      let reply = replies.shift();
      if (typeof reply === "function") reply = reply(clock);
      if (reply === undefined) return Promise.reject(new Error("the test gave no reply for this call"));
      if (reply === "hold") return new Promise((resolve, reject) => { source.held = { resolve, reject }; });
      return reply instanceof Error ? Promise.reject(reply) : Promise.resolve(reply);
    },
    async push(view) {
      source.onVisit(view);
      await flush();
    },
    async release(value) {
      const held = source.held;
      source.held = null;
      if (value instanceof Error) held.reject(value);
      else held.resolve(value);
      await flush();
    },
  };
  return source;
}
