// The client kit's join state machine (clients/web, driveVisit) on a fake clock and a fake source: every
// state, every refusal, the timers and the call budget. No emulator, no network: milliseconds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { driveVisit, isFinal, refusalOf, watchVisit, KitError, describeVisit } from "../../clients/web/dist/index.js";
import { answer, fakeClock, fakeSource, flush, refused, visit, T0 } from "./kit-fakes.mjs";

/** Start watching with a fake clock and source; `states` collects every state reported. */
async function start(replies = [], options = {}) {
  const clock = fakeClock();
  const source = fakeSource(clock, replies);
  const states = [];
  const watch = driveVisit(source, (state) => states.push(state), { clock, ...options });
  await flush();
  const kinds = () => states.map((state) => state.kind);
  return { clock, source, states, watch, kinds, last: () => states[states.length - 1] };
}

test("it starts connecting and listens; a pending visit waits for confirmation without calling", async () => {
  const w = await start();
  assert.deepEqual(w.kinds(), ["connecting"]);
  assert.equal(w.source.listening, true);
  await w.source.push(visit({ status: "pending", roomName: null }));
  await w.clock.advance(10 * 60_000);
  assert.equal(w.last().kind, "not_confirmed");
  assert.equal(w.source.calls.length, 0);
  assert.equal(w.clock.timers, 0);
});

test("confirmed without a room waits for the room on the appointment, then calls once and is joined", async () => {
  const w = await start([(clock) => answer(clock)]);
  await w.source.push(visit({ roomName: null }));
  assert.deepEqual(w.last(), { kind: "room_not_ready", retryAt: null, visit: visit({ roomName: null }) });
  await w.clock.advance(60_000);
  assert.equal(w.source.calls.length, 0);
  await w.source.push(visit());
  assert.deepEqual(w.kinds(), ["connecting", "room_not_ready", "joining", "joined"]);
  assert.equal(w.source.calls.length, 1);
  assert.equal(w.last().join.roomName, "room-one");
});

test("pending, then confirmed with its room in one read: the kit calls at once", async () => {
  const w = await start([(clock) => answer(clock)]);
  await w.source.push(visit({ status: "pending", roomName: null }));
  await w.source.push(visit());
  assert.deepEqual(w.kinds(), ["connecting", "not_confirmed", "joining", "joined"]);
});

test("one call at a time: changes while a call is on its way start no second one", async () => {
  const w = await start(["hold"]);
  await w.source.push(visit());
  await w.source.push(visit({ doctorJoined: true }));
  await w.source.push(visit({ doctorJoined: true, recordingConsent: true }));
  await w.clock.advance(5000);
  assert.equal(w.source.calls.length, 1);
  assert.equal(w.last().kind, "joining");
});

test("one call at a time: a new room while the refresh is on its way waits for its answer", async () => {
  const w = await start([(clock) => answer(clock, { ttl: 600 }), "hold", (clock) => answer(clock, { room: "room-two" })]);
  await w.source.push(visit());
  await w.clock.advance(540_000);
  assert.equal(w.source.calls.length, 2);
  await w.source.push(visit({ roomName: "room-two" }));
  w.source.onError(new Error("listener gone"));
  await w.clock.advance(5000);
  assert.equal(w.source.calls.length, 2);
  await w.source.release(answer(w.clock, { token: "t2" }));
  await w.clock.advance(1000);
  assert.equal(w.source.calls.length, 3);
  assert.equal(w.last().join.roomName, "room-two");
});

test("a token for a room the appointment no longer has is replaced at once", async () => {
  const w = await start(["hold", (clock) => answer(clock, { room: "room-two" })]);
  await w.source.push(visit());
  await w.source.push(visit({ roomName: "room-two" }));
  await w.source.release(answer(w.clock));
  await w.clock.advance(1000);
  assert.equal(w.source.calls.length, 2);
  assert.equal(w.last().join.roomName, "room-two");
});

const FINAL_REFUSALS = [
  { id: "signed out", error: refused("unauthenticated"), kind: "unauthenticated" },
  { id: "a malformed id", error: refused("invalid-argument"), kind: "invalid_argument" },
  { id: "no part in it", error: refused("not-found"), kind: "not_found" },
  { id: "the server failed", error: refused("internal"), kind: "internal" },
  { id: "not a video visit", error: refused("failed-precondition", { reason: "not_video" }), kind: "not_video" },
  { id: "broken times", error: refused("failed-precondition", { reason: "bad_schedule" }), kind: "bad_schedule" },
  { id: "an unknown reason", error: refused("failed-precondition", { reason: "new_reason" }), kind: "failed" },
  { id: "an unknown code", error: refused("deadline-exceeded"), kind: "failed" },
  { id: "not a Firebase error", error: new TypeError("boom"), kind: "failed" },
];

for (const { id, error, kind } of FINAL_REFUSALS) {
  test(`a final refusal (${id}) is state ${kind}: it stops listening and never calls again`, async () => {
    const w = await start([error]);
    await w.source.push(visit());
    assert.equal(w.last().kind, kind);
    assert.equal(isFinal(w.last()), true);
    assert.equal(w.source.listening, false);
    assert.equal(w.source.unsubscribed, 1);
    await w.clock.advance(60 * 60_000);
    assert.equal(w.source.calls.length, 1);
    assert.equal(w.clock.timers, 0);
  });
}

test("too late carries closesAt and is final", async () => {
  const closesAt = T0 / 1000 - 10;
  const w = await start([refused("failed-precondition", { reason: "too_late", closesAt })]);
  await w.source.push(visit());
  assert.equal(w.last().kind, "too_late");
  assert.equal(w.last().closesAt, closesAt);
  assert.equal(w.source.listening, false);
});

test("the failed state keeps the refusal it did not know", async () => {
  const w = await start([refused("failed-precondition", { reason: "new_reason" })]);
  await w.source.push(visit());
  assert.deepEqual(w.last().refusal, { code: "other", sdkCode: "functions/failed-precondition", reason: "new_reason" });
});

test("room_not_ready from the call retries after 1 s, then 2 s, then 4 s, and a token ends it", async () => {
  const notReady = () => refused("failed-precondition", { reason: "room_not_ready" });
  const w = await start([notReady(), notReady(), notReady(), (clock) => answer(clock)]);
  await w.source.push(visit());
  assert.deepEqual(w.last(), { kind: "room_not_ready", retryAt: T0 + 1000, visit: visit() });
  await w.clock.advance(999);
  assert.equal(w.source.calls.length, 1);
  await w.clock.advance(10_000);
  assert.deepEqual(w.source.calls.map((at) => at - T0), [0, 1000, 3000, 7000]);
  assert.equal(w.last().kind, "joined");
});

test("the back-off stops growing at 30 s", async () => {
  const notReady = () => refused("failed-precondition", { reason: "room_not_ready" });
  const w = await start(Array.from({ length: 20 }, notReady));
  await w.source.push(visit());
  await w.clock.advance(2 * 60_000);
  const gaps = w.source.calls.slice(1).map((at, i) => at - w.source.calls[i]);
  assert.deepEqual(gaps, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
});

test("a token resets the back-off: the next room's first retry is 1 s again", async () => {
  const notReady = () => refused("failed-precondition", { reason: "room_not_ready" });
  const w = await start([notReady(), notReady(), (clock) => answer(clock), notReady(), (clock) => answer(clock, { room: "room-two" })]);
  await w.source.push(visit());
  await w.clock.advance(3000);
  assert.equal(w.last().kind, "joined");
  await w.clock.advance(10_000);
  await w.source.push(visit({ roomName: "room-two" }));
  assert.deepEqual(w.last(), { kind: "room_not_ready", retryAt: w.clock.now() + 1000, visit: visit({ roomName: "room-two" }) });
  await w.clock.advance(1000);
  assert.equal(w.last().join.roomName, "room-two");
});

test("the room's provider id arriving on the appointment cuts a room_not_ready wait short", async () => {
  const notReady = () => refused("failed-precondition", { reason: "room_not_ready" });
  const w = await start([notReady(), notReady(), (clock) => answer(clock)]);
  await w.source.push(visit());
  await w.clock.advance(1500);
  // Waiting 2 s now (the second retry, due at 3 s); the provider's room id arrives at 1.5 s, and the
  // call goes out as soon as the one-second gap allows.
  await w.source.push(visit({ providerRoomId: "provider-room" }));
  await w.clock.advance(500);
  assert.deepEqual(w.source.calls.map((at) => at - T0), [0, 1000, 2000]);
  assert.equal(w.last().kind, "joined");
});

test("other changes while a retry waits do not cut it short", async () => {
  const notReady = () => refused("failed-precondition", { reason: "room_not_ready" });
  const early = refused("failed-precondition", { reason: "too_early", opensAt: T0 / 1000 + 600 });
  for (const [first, wait] of [[notReady(), 900], [early, 60_000]]) {
    const w = await start([first, (clock) => answer(clock)]);
    await w.source.push(visit());
    await w.clock.advance(100);
    await w.source.push(visit({ recordingConsent: false }));
    await w.clock.advance(wait - 100);
    assert.equal(w.source.calls.length, 1, first.details.reason);
  }
});

test("too early waits for opensAt (re-arming long timers) and calls exactly then", async () => {
  const opensAt = T0 / 1000 + 3 * 24 * 3600;
  const w = await start([refused("failed-precondition", { reason: "too_early", opensAt }), (clock) => answer(clock)]);
  await w.source.push(visit());
  assert.deepEqual(w.last(), { kind: "too_early", opensAt, visit: visit() });
  await w.clock.advance(opensAt * 1000 - T0 - 1);
  assert.equal(w.source.calls.length, 1);
  assert.equal(w.last().kind, "too_early");
  await w.clock.advance(1);
  assert.deepEqual(w.source.calls.map((at) => at - T0), [0, opensAt * 1000 - T0]);
  assert.equal(w.last().kind, "joined");
});

test("too early with opensAt now or past on this clock backs off instead of calling in a loop", async () => {
  const early = () => refused("failed-precondition", { reason: "too_early", opensAt: T0 / 1000 });
  const w = await start([early(), early(), early()]);
  await w.source.push(visit());
  await w.clock.advance(3500);
  assert.deepEqual(w.source.calls.map((at) => at - T0), [0, 1000, 3000]);
});

for (const [moved, change] of [["start", { startTime: T0 + 60_000 }], ["end", { endTime: T0 + 90 * 60_000 }]]) {
  test(`a moved visit (a new ${moved} time) ends a too-early wait: the kit asks again`, async () => {
    const opensAt = T0 / 1000 + 3600;
    const w = await start([refused("failed-precondition", { reason: "too_early", opensAt }), (clock) => answer(clock)]);
    await w.source.push(visit());
    await w.clock.advance(5000);
    await w.source.push(visit(change));
    assert.equal(w.source.calls.length, 2);
    assert.equal(w.last().kind, "joined");
  });
}

test("waiting for the doctor: other changes do nothing; video.doctorJoinedAt makes it call and join", async () => {
  const w = await start([refused("failed-precondition", { reason: "waiting_for_doctor" }), (clock) => answer(clock)]);
  await w.source.push(visit());
  assert.equal(w.last().kind, "waiting_for_doctor");
  await w.source.push(visit({ recordingConsent: true }));
  await w.clock.advance(10 * 60_000);
  assert.equal(w.source.calls.length, 1);
  assert.equal(w.last().kind, "waiting_for_doctor");
  assert.equal(w.last().visit.recordingConsent, true);
  await w.source.push(visit({ doctorJoined: true }));
  assert.equal(w.source.calls.length, 2);
  assert.deepEqual(w.kinds().slice(-2), ["joining", "joined"]);
});

test("the doctor joining while the refused call was still on its way is not missed", async () => {
  const w = await start(["hold", (clock) => answer(clock)]);
  await w.source.push(visit());
  await w.source.push(visit({ doctorJoined: true }));
  await w.source.release(refused("failed-precondition", { reason: "waiting_for_doctor" }));
  await w.clock.advance(1000);
  assert.equal(w.source.calls.length, 2);
  assert.equal(w.last().kind, "joined");
});

test("admission: waiting, denied, then admitted after all: each decision calls again", async () => {
  const w = await start([
    refused("failed-precondition", { reason: "waiting_for_admission" }),
    refused("failed-precondition", { reason: "admission_denied" }),
    (clock) => answer(clock),
  ]);
  await w.source.push(visit());
  assert.equal(w.last().kind, "waiting_for_admission");
  await w.source.push(visit({ inLobby: true }));
  assert.equal(w.source.calls.length, 1);
  await w.clock.advance(2000);
  await w.source.push(visit({ inLobby: true, denied: true }));
  assert.equal(w.last().kind, "admission_denied");
  assert.equal(isFinal(w.last()), false);
  await w.clock.advance(2000);
  await w.source.push(visit({ inLobby: true, admitted: true }));
  assert.equal(w.source.calls.length, 3);
  assert.equal(w.last().kind, "joined");
});

test("rate limited: waits retryAfter seconds exactly, then calls", async () => {
  const w = await start([refused("resource-exhausted", { retryAfter: 7 }), (clock) => answer(clock)]);
  await w.source.push(visit());
  assert.deepEqual(w.last(), { kind: "rate_limited", retryAfter: 7, retryAt: T0 + 7000, visit: visit() });
  await w.clock.advance(6999);
  assert.equal(w.source.calls.length, 1);
  await w.clock.advance(1);
  assert.deepEqual(w.source.calls.map((at) => at - T0), [0, 7000]);
  assert.equal(w.last().kind, "joined");
});

for (const [code, reason] of [["unavailable", "provider_unavailable"], ["aborted", "concurrent_update"]]) {
  test(`${reason} retries with a growing back-off`, async () => {
    const again = () => refused(code, { reason });
    const w = await start([again(), again(), (clock) => answer(clock)]);
    await w.source.push(visit());
    assert.deepEqual(w.last(), { kind: reason, retryAt: T0 + 1000, visit: visit() });
    await w.clock.advance(10_000);
    assert.deepEqual(w.source.calls.map((at) => at - T0), [0, 1000, 3000]);
    assert.equal(w.last().kind, "joined");
  });
}

test("joined: the token is asked for again a minute before expiresAt, and not before", async () => {
  const w = await start([(clock) => answer(clock, { ttl: 600 }), (clock) => answer(clock, { ttl: 600, token: "t2" })]);
  await w.source.push(visit());
  const first = w.last();
  assert.equal(first.refreshAt, first.join.expiresAt * 1000 - 60_000);
  await w.clock.advance(first.refreshAt - T0 - 1);
  assert.equal(w.source.calls.length, 1);
  await w.clock.advance(1);
  assert.equal(w.source.calls.length, 2);
  assert.equal(w.last().kind, "joined");
  assert.equal(w.last().join.token, "t2");
  // No `joining` in between: the meeting keeps its state while the new token comes.
  assert.deepEqual(w.kinds(), ["connecting", "joining", "joined", "joined"]);
});

test("a short-lived token is asked for again at half its life", async () => {
  const w = await start([(clock) => answer(clock, { ttl: 80 })]);
  await w.source.push(visit());
  assert.equal(w.last().refreshAt, T0 + 40_000);
});

test("a refresh refused too_late ends the visit", async () => {
  const closesAt = T0 / 1000 + 600;
  const w = await start([(clock) => answer(clock, { ttl: 600 }), refused("failed-precondition", { reason: "too_late", closesAt })]);
  await w.source.push(visit());
  await w.clock.advance(600_000);
  assert.equal(w.last().kind, "too_late");
  assert.equal(w.source.listening, false);
});

test("a refresh that is rate limited keeps the meeting's token and tries again after retryAfter", async () => {
  const w = await start([
    (clock) => answer(clock, { ttl: 600 }),
    refused("resource-exhausted", { retryAfter: 5 }),
    (clock) => answer(clock, { ttl: 600, token: "t2" }),
  ]);
  await w.source.push(visit());
  await w.clock.advance(540_000);
  assert.equal(w.source.calls.length, 2);
  assert.equal(w.last().kind, "joined");
  assert.equal(w.last().join.token, "t1");
  await w.clock.advance(5000);
  assert.equal(w.last().join.token, "t2");
});

test("a refusal that comes when the held token has expired is the state again", async () => {
  const w = await start([
    (clock) => answer(clock, { ttl: 600 }),
    refused("resource-exhausted", { retryAfter: 60 }),
    refused("resource-exhausted", { retryAfter: 5 }),
  ]);
  await w.source.push(visit());
  await w.clock.advance(540_000);
  assert.equal(w.last().kind, "joined");
  await w.clock.advance(60_000);
  // The retry went out exactly at expiresAt: no token is held any more.
  assert.equal(w.source.calls[2] - T0, 600_000);
  assert.equal(w.last().kind, "rate_limited");
});

test("a new room on the appointment (the visit moved) asks for a token for it at once", async () => {
  const w = await start([(clock) => answer(clock), (clock) => answer(clock, { room: "room-two" })]);
  await w.source.push(visit());
  await w.clock.advance(5000);
  await w.source.push(visit({ roomName: "room-two" }));
  assert.equal(w.source.calls.length, 2);
  assert.equal(w.last().join.roomName, "room-two");
});

for (const status of ["completed", "cancelled"]) {
  test(`a ${status} visit ends the watch: listener removed, refresh timer gone`, async () => {
    const w = await start([(clock) => answer(clock)]);
    await w.source.push(visit());
    await w.source.push(visit({ status }));
    assert.deepEqual(w.last(), { kind: "ended", status, visit: visit({ status }) });
    assert.equal(w.source.unsubscribed, 1);
    assert.equal(w.clock.timers, 0);
    await w.clock.advance(2 * 3600_000);
    assert.equal(w.source.calls.length, 1);
  });
}

test("a visit that does not exist is not_found without a call; one deleted later is ended", async () => {
  const missing = await start();
  await missing.source.push(null);
  assert.equal(missing.last().kind, "not_found");
  assert.equal(missing.source.calls.length, 0);
  const deleted = await start([(clock) => answer(clock)]);
  await deleted.source.push(visit());
  await deleted.source.push(null);
  assert.equal(deleted.last().kind, "ended");
  assert.equal(deleted.last().status, "deleted");
});

test("an in-person visit is not_video without a call", async () => {
  const w = await start();
  await w.source.push(visit({ type: "in_person" }));
  assert.equal(w.last().kind, "not_video");
  assert.equal(w.source.calls.length, 0);
});

test("a token that arrives after the visit went back to pending is not used", async () => {
  const w = await start(["hold"]);
  await w.source.push(visit());
  await w.source.push(visit({ status: "pending", roomName: null }));
  await w.source.release(answer(w.clock));
  assert.equal(w.last().kind, "not_confirmed");
});

test("stop() reports stopped, removes the listener and ignores the answer still on its way", async () => {
  const w = await start(["hold"]);
  await w.source.push(visit());
  w.watch.stop();
  await w.source.release(answer(w.clock));
  assert.equal(w.last().kind, "stopped");
  assert.equal(w.watch.state.kind, "stopped");
  assert.equal(w.source.unsubscribed, 1);
});

test("without read access (a guest) it calls at once, and a wait polls every pollMs, not faster", async () => {
  const waiting = () => refused("failed-precondition", { reason: "waiting_for_doctor" });
  const w = await start([waiting(), waiting(), waiting(), (clock) => answer(clock)], { pollMs: 15_000 });
  w.source.onError(Object.assign(new Error("denied"), { code: "permission-denied" }));
  await flush();
  assert.equal(w.source.calls.length, 1);
  assert.equal(w.last().kind, "waiting_for_doctor");
  assert.equal(w.last().visit, null);
  await w.clock.advance(60_000);
  assert.deepEqual(w.source.calls.map((at) => at - T0), [0, 15_000, 30_000, 45_000]);
  assert.equal(w.last().kind, "joined");
});

test("the default poll without read access is 15 s", async () => {
  const waiting = () => refused("failed-precondition", { reason: "waiting_for_admission" });
  const w = await start([waiting(), waiting(), waiting()]);
  w.source.onError(new Error("denied"));
  await flush();
  await w.clock.advance(30_000);
  assert.deepEqual(w.source.calls.map((at) => at - T0), [0, 15_000, 30_000]);
});

test("however the appointment flaps, calls stay within the budget: 10 a minute, 1 s apart", async () => {
  const replies = Array.from({ length: 100 }, () => refused("failed-precondition", { reason: "waiting_for_admission" }));
  const w = await start(replies);
  await w.source.push(visit());
  for (let i = 0; i < 1200; i += 1) {
    await w.source.push(visit({ admitted: i % 2 === 0, denied: i % 2 === 1 }));
    await w.clock.advance(100);
  }
  const calls = w.source.calls;
  assert.ok(calls.length >= 20, `only ${calls.length} calls in two minutes`);
  for (let i = 1; i < calls.length; i += 1) assert.ok(calls[i] - calls[i - 1] >= 1000, `calls ${i - 1} and ${i} too close`);
  for (let i = 10; i < calls.length; i += 1) assert.ok(calls[i] - calls[i - 10] >= 60_000, `11 calls within a minute at ${i}`);
});

test("the budget is an option: 2 a minute holds a room_not_ready retry back", async () => {
  const notReady = () => refused("failed-precondition", { reason: "room_not_ready" });
  const w = await start([notReady(), notReady(), notReady()], { callsPerMinute: 2 });
  await w.source.push(visit());
  await w.clock.advance(61_000);
  assert.deepEqual(w.source.calls.map((at) => at - T0), [0, 1000, 60_000]);
});

test("watchVisit refuses a malformed id at once, touching nothing", () => {
  const states = [];
  for (const id of ["a/b", "", "x".repeat(129), "__reserved__", "café"]) {
    const watch = watchVisit(id, (state) => states.push(state));
    assert.equal(watch.state.kind, "invalid_argument");
  }
  assert.equal(states.length, 5);
});

test("every state has a sentence to show, none of them empty but stopped", () => {
  const clock = fakeClock();
  const join = answer(clock);
  const samples = [
    { kind: "connecting" }, { kind: "not_confirmed" }, { kind: "room_not_ready", retryAt: null }, { kind: "joining" },
    { kind: "too_early", opensAt: T0 / 1000 }, { kind: "waiting_for_doctor" }, { kind: "waiting_for_admission" },
    { kind: "admission_denied" }, { kind: "rate_limited", retryAfter: 3, retryAt: T0 }, { kind: "provider_unavailable", retryAt: T0 },
    { kind: "concurrent_update", retryAt: T0 }, { kind: "joined", join, refreshAt: T0 }, { kind: "too_late", closesAt: null },
    { kind: "ended", status: "completed" }, { kind: "ended", status: "cancelled" }, { kind: "not_found" }, { kind: "not_video" },
    { kind: "bad_schedule" }, { kind: "unauthenticated" }, { kind: "invalid_argument" }, { kind: "internal" },
    { kind: "failed", refusal: { code: "other", sdkCode: "x" } },
  ];
  const texts = samples.map((state) => describeVisit({ ...state, visit: null }));
  for (const [i, text] of texts.entries()) assert.ok(text.length > 10, `${samples[i].kind}: "${text}"`);
  assert.equal(new Set(texts).size, texts.length);
  assert.equal(describeVisit({ kind: "stopped", visit: null }), "");
});

const REFUSALS = [
  ["functions/unauthenticated", undefined, { code: "unauthenticated" }],
  ["functions/resource-exhausted", { retryAfter: 12 }, { code: "resource-exhausted", retryAfter: 12 }],
  ["functions/resource-exhausted", { retryAfter: "soon" }, { code: "other", sdkCode: "functions/resource-exhausted" }],
  ["functions/failed-precondition", { reason: "too_early", opensAt: 1800000000 }, { code: "failed-precondition", reason: "too_early", opensAt: 1800000000 }],
  ["functions/failed-precondition", { reason: "too_early" }, { code: "other", sdkCode: "functions/failed-precondition", reason: "too_early" }],
  ["functions/failed-precondition", { reason: "too_late", closesAt: 1800000000 }, { code: "failed-precondition", reason: "too_late", closesAt: 1800000000 }],
  ["functions/failed-precondition", { reason: "admission_off" }, { code: "failed-precondition", reason: "admission_off" }],
  ["functions/failed-precondition", { reason: "guest_limit", maxGuests: 1 }, { code: "failed-precondition", reason: "guest_limit", maxGuests: 1 }],
  ["functions/failed-precondition", { reason: "guest_limit" }, { code: "other", sdkCode: "functions/failed-precondition", reason: "guest_limit" }],
  ["functions/failed-precondition", { reason: "no_consent" }, { code: "failed-precondition", reason: "no_consent" }],
  ["functions/not-found", { reason: "ignored" }, { code: "not-found" }],
  ["functions/unavailable", { reason: "provider_unavailable" }, { code: "unavailable", reason: "provider_unavailable" }],
  ["functions/unavailable", undefined, { code: "other", sdkCode: "functions/unavailable" }],
  ["functions/aborted", { reason: "concurrent_update" }, { code: "aborted", reason: "concurrent_update" }],
  ["functions/aborted", undefined, { code: "other", sdkCode: "functions/aborted" }],
  ["functions/resource-exhausted", { retryAfter: 1.5 }, { code: "other", sdkCode: "functions/resource-exhausted" }],
  ["functions/resource-exhausted", { retryAfter: -3 }, { code: "other", sdkCode: "functions/resource-exhausted" }],
  ["functions/failed-precondition", undefined, { code: "other", sdkCode: "functions/failed-precondition" }],
  ["functions/failed-precondition", { reason: "too_late" }, { code: "other", sdkCode: "functions/failed-precondition", reason: "too_late" }],
  ["functions/cancelled", { reason: "not_video" }, { code: "other", sdkCode: "functions/cancelled", reason: "not_video" }],
];

for (const [code, details, expected] of REFUSALS) {
  test(`refusalOf reads ${code} ${JSON.stringify(details ?? {})}`, () => {
    assert.deepEqual(refusalOf({ code, details }), expected);
  });
}

test("refusalOf reads what is not a Firebase error as an unknown refusal", () => {
  for (const thrown of [null, undefined, "text", 42]) {
    assert.deepEqual(refusalOf(thrown), { code: "other", sdkCode: "unknown" });
  }
});

test("a KitError names the callable and the refusal, nothing of the request", () => {
  assert.equal(new KitError("remove_guest", { code: "not-found" }).message, "remove_guest refused: not-found");
  assert.equal(new KitError("redeem_invite", { code: "other", sdkCode: "functions/cancelled" }).message, "redeem_invite refused: functions/cancelled");
  const error = new KitError("get_join_token", { code: "failed-precondition", reason: "too_early", opensAt: 1 });
  assert.equal(error.message, "get_join_token refused: failed-precondition (too_early)");
  assert.equal(error.code, "failed-precondition");
  assert.equal(error.reason, "too_early");
  assert.ok(error instanceof Error);
});
