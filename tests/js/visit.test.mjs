// The client kit's watchVisit against the emulators: the real listener, the real get_join_token, the
// real trigger, waiting room `host` (this suite's params). Admit mode is in visit-admit.mjs (matrix).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { doc, setDoc, updateDoc, Timestamp } from "firebase/firestore";
import { httpsCallable } from "firebase/functions";
import { KitError, visitCalls } from "../../clients/web/dist/index.js";
import { adminWrite, auditRecords, makeDoctor, resetEmulators, signedInClient, waitForRoom } from "./emulators.mjs";
import { fakeClock } from "./kit-fakes.mjs";
import { callOnly, counting, watching } from "./kit-watch.mjs";

let patient, doctor, stranger, hasty, signedOut;
const at = (minutes) => new Date(Date.now() + minutes * 60_000);

before(async () => {
  await resetEmulators();
  patient = await signedInClient("kit-patient@test.example", "kit-patient-1");
  doctor = await makeDoctor(await signedInClient("kit-doctor@test.example", "kit-doctor-1"), "Dr. Kit");
  stranger = await signedInClient("kit-stranger@test.example", "kit-stranger-1");
  hasty = await signedInClient("kit-hasty@test.example", "kit-hasty-1");
  signedOut = await signedInClient("kit-gone@test.example", "kit-gone-1");
  await signedOut.auth.signOut();
});

after(async () => {
  for (const client of [patient, doctor, stranger, hasty, signedOut]) await client?.close();
});

/** A visit as a server writes it (confirmed, or times no client may book); its room, where it gets one. */
async function serverVisit(id, fields) {
  await adminWrite(`appointments/${id}`, {
    patientId: patient.uid, doctorId: doctor.uid, type: "video", status: "confirmed",
    startTime: at(5), endTime: at(35), ...fields,
  });
  if ((fields.type ?? "video") === "video" && (fields.status ?? "confirmed") === "confirmed") await waitForRoom(id);
}

test("booked, confirmed, the patient waits for the doctor, both are in the same room, and completing ends both", async () => {
  await setDoc(doc(patient.db, "appointments", "kit-visit"), {
    patientId: patient.uid, doctorId: doctor.uid, type: "video", status: "pending",
    startTime: Timestamp.fromDate(at(5)), endTime: Timestamp.fromDate(at(35)),
  });
  const asPatient = watching(patient, "kit-visit");
  await asPatient.until("not_confirmed");

  await updateDoc(doc(doctor.db, "appointments", "kit-visit"), { status: "confirmed" });
  const waiting = await asPatient.until("waiting_for_doctor");
  assert.match(waiting.visit.roomName, /^[a-z2-7]{32}$/);
  assert.equal(waiting.visit.doctorJoined, false);

  const asDoctor = watching(doctor, "kit-visit");
  const doctorIn = await asDoctor.until("joined");
  assert.equal(doctorIn.join.role, "moderator");
  // The doctor's token stamps video.doctorJoinedAt; the patient's listener sees it and the kit calls again.
  const patientIn = await asPatient.until("joined");
  assert.equal(patientIn.join.role, "guest");
  assert.equal(patientIn.join.roomName, doctorIn.join.roomName);
  assert.equal(patientIn.join.provider, "jitsi");
  assert.ok(patientIn.refreshAt < patientIn.join.expiresAt * 1000);
  assert.deepEqual(
    asPatient.kinds().filter((kind) => !["room_not_ready", "joining"].includes(kind)),
    ["connecting", "not_confirmed", "waiting_for_doctor", "joined"],
  );

  await updateDoc(doc(doctor.db, "appointments", "kit-visit"), { status: "completed" });
  for (const side of [asPatient, asDoctor]) {
    const ended = await side.until("ended");
    assert.equal(ended.status, "completed");
    assert.equal(side.watch.state.kind, "ended");
  }
  // What the kit called, as the audit log has it: the patient twice (refused, then granted), the doctor once.
  const records = await auditRecords("kit-visit");
  const by = (uid) => records.filter((r) => r.uid === uid).map((r) => `${r.outcome}:${r.reason}`).sort();
  assert.deepEqual(by(patient.uid), ["denied:waiting_for_doctor", "granted:ok"]);
  assert.deepEqual(by(doctor.uid), ["granted:ok"]);
});

test("the token is asked for again before expiresAt (a fake clock over the real callable)", async () => {
  await serverVisit("kit-refresh", {});
  const clock = fakeClock(Date.now());
  const { count, source } = counting("kit-refresh");
  const asDoctor = watching(doctor, "kit-refresh", { clock, source });
  const first = await asDoctor.until("joined");
  assert.equal(first.refreshAt, first.join.expiresAt * 1000 - 60_000);
  await clock.advance(first.refreshAt - clock.now() - 1);
  assert.equal(count.calls, 1);
  await clock.advance(1);
  assert.equal(count.calls, 2);
  const second = await asDoctor.until("joined", { where: () => count.settled === 2 });
  assert.equal(second.join.roomName, first.join.roomName);
  assert.deepEqual((await auditRecords("kit-refresh")).map((r) => r.outcome), ["granted", "granted"]);
  asDoctor.watch.stop();
  assert.equal(asDoctor.watch.state.kind, "stopped");
});

test("the kit's refusal states from the real callable: too early, too late, broken times", async () => {
  const startsAt = at(24 * 60);
  await serverVisit("kit-tomorrow", { startTime: startsAt, endTime: at(24 * 60 + 30) });
  const early = watching(patient, "kit-tomorrow");
  const tooEarly = await early.until("too_early");
  assert.equal(tooEarly.opensAt, Math.floor(startsAt.getTime() / 1000) - 15 * 60);
  early.watch.stop();

  const endedAt = at(-120);
  await serverVisit("kit-yesterday", { startTime: at(-150), endTime: endedAt });
  const late = watching(patient, "kit-yesterday");
  const tooLate = await late.until("too_late");
  assert.equal(tooLate.closesAt, Math.floor(endedAt.getTime() / 1000) + 30 * 60);

  await serverVisit("kit-broken", { endTime: null });
  const broken = watching(patient, "kit-broken");
  await broken.until("bad_schedule");
  assert.equal(broken.watch.state.kind, "bad_schedule");
});

test("call-only (no read access): not_video and not_confirmed are the callable's answers", async () => {
  await serverVisit("kit-in-person", { type: "in_person" });
  const inPerson = watching(patient, "kit-in-person", { source: callOnly("kit-in-person") });
  const notVideo = await inPerson.until("not_video");
  assert.equal(notVideo.visit, null);

  await serverVisit("kit-pending", { status: "pending" });
  const pending = watching(patient, "kit-pending", { source: callOnly("kit-pending"), pollMs: 60_000 });
  await pending.until("not_confirmed");
  pending.watch.stop();
  assert.deepEqual((await auditRecords("kit-in-person")).map((r) => r.reason), ["not_video"]);
  assert.deepEqual((await auditRecords("kit-pending")).map((r) => r.reason), ["not_confirmed"]);
});

test("a stranger is not_found, a signed-out app unauthenticated: the listener is refused, the call decides", async () => {
  await serverVisit("kit-private", {});
  const nosy = watching(stranger, "kit-private");
  await nosy.until("not_found");
  const gone = watching(signedOut, "kit-private");
  await gone.until("unauthenticated");
  assert.deepEqual((await auditRecords("kit-private")).map((r) => `${r.uid}:${r.reason}`), [`${stranger.uid}:not_found`]);
});

test("rate limited: the state carries retryAfter, and the kit waits that long before calling again", async () => {
  await serverVisit("kit-hasty", { patientId: hasty.uid });
  const join = httpsCallable(hasty.functions, "get_join_token");
  // Burn the account's minute (VIDEO_JOIN_RATE_PER_MIN, 20) on another id, outside the kit.
  for (let i = 0; i < 20; i += 1) await join({ appointmentId: "kit-elsewhere" }).catch(() => undefined);
  const { count, source } = counting("kit-hasty");
  const watch = watching(hasty, "kit-hasty", { source });
  const limited = await watch.until("rate_limited");
  assert.ok(limited.retryAfter >= 1 && limited.retryAfter <= 60, `retryAfter ${limited.retryAfter}`);
  assert.ok(limited.retryAt - Date.now() > 500, "the retry is scheduled in the future");
  assert.equal(count.calls, 1);
  watch.watch.stop();
});

test("the other callables refuse with typed KitErrors: admission off in host mode, consent not the doctor's", async () => {
  await serverVisit("kit-calls", {});
  const isRefusal = (callable, code, reason) => (error) =>
    error instanceof KitError && error.callable === callable && error.code === code && error.reason === reason;
  await assert.rejects(
    visitCalls(doctor.functions).admitPatient("kit-calls", true),
    isRefusal("admit_patient", "failed-precondition", "admission_off"),
  );
  await assert.rejects(
    visitCalls(doctor.functions).setRecordingConsent("kit-calls", true),
    isRefusal("set_recording_consent", "not-found", undefined),
  );
  assert.deepEqual(await visitCalls(patient.functions).setRecordingConsent("kit-calls", true), { consent: true });
});
