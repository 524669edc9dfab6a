// The client kit's watchVisit with VIDEO_WAITING_ROOM=admit (run by tests/matrix in the admit run, beside
// admit-flow.mjs): waiting_for_admission, admission_denied and, when the doctor changes their mind, joined,
// each from the real callable, each reached by the kit on its own from the appointment's listener.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { doc, setDoc, updateDoc, Timestamp } from "firebase/firestore";
import { visitCalls } from "../../clients/web/dist/index.js";
import { auditRecords, makeDoctor, resetEmulators, signedInClient, waitForRoom } from "./emulators.mjs";
import { watching } from "./kit-watch.mjs";

let patient, doctor;

before(async () => {
  await resetEmulators();
  patient = await signedInClient("kit-admit-patient@test.example", "kit-admit-patient-1");
  doctor = await makeDoctor(await signedInClient("kit-admit-doctor@test.example", "kit-admit-doctor-1"), "Dr. Admit");
});

after(async () => {
  for (const client of [patient, doctor]) await client?.close();
});

test("admit mode: in the lobby, turned away, then let in after all, the kit following each decision", async () => {
  const soon = (n) => Timestamp.fromMillis(Date.now() + n * 60_000);
  await setDoc(doc(patient.db, "appointments", "kit-admit"), {
    patientId: patient.uid, doctorId: doctor.uid, type: "video", status: "pending", startTime: soon(5), endTime: soon(35),
  });
  await updateDoc(doc(doctor.db, "appointments", "kit-admit"), { status: "confirmed" });
  await waitForRoom("kit-admit");

  const asPatient = watching(patient, "kit-admit");
  const lobby = await asPatient.until("waiting_for_admission");
  assert.equal(lobby.visit.admitted, false);
  // The first refused call put the patient in the lobby; the doctor's listener would show it.
  await asPatient.until("waiting_for_admission", { where: (state) => state.visit.inLobby });

  const calls = visitCalls(doctor.functions);
  assert.deepEqual(await calls.admitPatient("kit-admit", false), { admitted: false });
  const denied = await asPatient.until("admission_denied");
  assert.equal(denied.visit.denied, true);

  assert.deepEqual(await calls.admitPatient("kit-admit", true), { admitted: true });
  const joined = await asPatient.until("joined");
  assert.equal(joined.join.role, "guest");
  asPatient.watch.stop();

  const reasons = (await auditRecords("kit-admit")).filter((r) => r.uid === patient.uid).map((r) => r.reason).sort();
  assert.deepEqual(reasons, ["admission_denied", "ok", "waiting_for_admission"]);
});
