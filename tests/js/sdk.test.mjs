// The official Firebase JS SDK (modular) against the emulators: what a web app really does.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { doc, getDoc, setDoc, updateDoc, Timestamp, collection, query, where, getDocs } from "firebase/firestore";
import { httpsCallable } from "firebase/functions";
import { signedInClient, resetEmulators, listenForRoom, makeDoctor, waitForRoom } from "./emulators.mjs";

let patient, doctor, stranger;
const minutes = (n) => Timestamp.fromMillis(Date.now() + n * 60_000);

before(async () => {
  await resetEmulators();
  patient = await signedInClient("js-patient@test.example", "patient-pass-1");
  doctor = await makeDoctor(await signedInClient("js-doctor@test.example", "doctor-pass-1"), "Dr. Script");
  stranger = await signedInClient("js-stranger@test.example", "stranger-pass-1");
});

after(async () => {
  for (const client of [patient, doctor, stranger]) await client?.close();
});

function book(id, fields = {}) {
  return setDoc(doc(patient.db, "appointments", id), {
    patientId: patient.uid, doctorId: doctor.uid, type: "video", status: "pending",
    startTime: minutes(5), endTime: minutes(35), ...fields,
  });
}

test("book, confirm, see the room arrive live, and join as guest and moderator", async () => {
  await book("js-visit");
  const { room } = listenForRoom(patient, "js-visit");

  await updateDoc(doc(doctor.db, "appointments", "js-visit"), { status: "confirmed" });
  const roomName = await room;
  assert.match(roomName, /^[a-z2-7]{32}$/);

  // The waiting room (host mode): the patient waits until the doctor's first token.
  await assert.rejects(
    httpsCallable(patient.functions, "get_join_token")({ appointmentId: "js-visit" }),
    (error) => error.code === "functions/failed-precondition" && error.details?.reason === "waiting_for_doctor",
  );
  const asDoctor = await httpsCallable(doctor.functions, "get_join_token")({ appointmentId: "js-visit" });
  const asPatient = await httpsCallable(patient.functions, "get_join_token")({ appointmentId: "js-visit" });
  assert.equal(asPatient.data.role, "guest");
  assert.equal(asDoctor.data.role, "moderator");
  assert.equal(asPatient.data.roomName, roomName);
  assert.equal(asPatient.data.roomUrl, `https://meet.example.test/${roomName}`);
  const claims = JSON.parse(Buffer.from(asDoctor.data.token.split(".")[1], "base64url").toString());
  assert.equal(claims.context.user.name, "Dr. Script");
  assert.equal(claims.context.user.moderator, "true");
  assert.equal(claims.exp, asDoctor.data.expiresAt);
});

test("the patient lists only their own appointments with a filtered query", async () => {
  const mine = await getDocs(query(collection(patient.db, "appointments"), where("patientId", "==", patient.uid)));
  assert.ok(mine.size >= 1);
  assert.ok(mine.docs.every((snap) => snap.data().patientId === patient.uid));
  await assert.rejects(getDocs(collection(patient.db, "appointments")), { code: "permission-denied" });
});

test("a stranger gets functions/not-found", async () => {
  await book("js-private");
  await assert.rejects(
    httpsCallable(stranger.functions, "get_join_token")({ appointmentId: "js-private" }),
    (error) => error.code === "functions/not-found" && error.details === undefined,
  );
});

test("a pending appointment is functions/failed-precondition with reason not_confirmed", async () => {
  await book("js-pending");
  await assert.rejects(
    httpsCallable(patient.functions, "get_join_token")({ appointmentId: "js-pending" }),
    (error) => error.code === "functions/failed-precondition" && error.details?.reason === "not_confirmed",
  );
});

test("too early carries opensAt in details", async () => {
  await book("js-later", { startTime: minutes(24 * 60), endTime: minutes(24 * 60 + 30) });
  await updateDoc(doc(doctor.db, "appointments", "js-later"), { status: "confirmed" });
  // The room is this test's precondition, not its subject (the first test checks it arrives live).
  await waitForRoom("js-later");
  await assert.rejects(
    httpsCallable(patient.functions, "get_join_token")({ appointmentId: "js-later" }),
    (error) => error.code === "functions/failed-precondition" && error.details?.reason === "too_early"
      && Number.isInteger(error.details.opensAt),
  );
});

test("an ordinary account cannot be booked as a doctor, act as one, or get a moderator token", async () => {
  // The attack from the review: account A names account B (not a clinic doctor) as doctorId.
  const impostor = await signedInClient("js-impostor@test.example", "impostor-pass-1", "Dr. Fake");
  try {
    await assert.rejects(book("js-fake", { doctorId: impostor.uid }), { code: "permission-denied" });
    // Even on a booking a server wrote, the impostor can neither confirm nor get a token.
    await book("js-real");
    await assert.rejects(
      updateDoc(doc(impostor.db, "appointments", "js-real"), { status: "confirmed" }),
      { code: "permission-denied" },
    );
    await assert.rejects(
      httpsCallable(impostor.functions, "get_join_token")({ appointmentId: "js-real" }),
      (error) => error.code === "functions/not-found" && error.details === undefined,
    );
  } finally {
    await impostor.close();
  }
});

test("the directory is readable by signed-in users and writable by none", async () => {
  const entry = await getDoc(doc(patient.db, "doctors", doctor.uid));
  assert.equal(entry.data().displayName, "Dr. Script");
  assert.equal(entry.data().active, true);
  await assert.rejects(
    setDoc(doc(patient.db, "doctors", patient.uid), { displayName: "Me", active: true }),
    { code: "permission-denied" },
  );
});

test("a malformed id is functions/invalid-argument, and signed-out is functions/unauthenticated", async () => {
  await assert.rejects(
    httpsCallable(patient.functions, "get_join_token")({ appointmentId: "a/b" }),
    { code: "functions/invalid-argument" },
  );
  await patient.auth.signOut();
  await assert.rejects(
    httpsCallable(patient.functions, "get_join_token")({ appointmentId: "js-visit" }),
    { code: "functions/unauthenticated" },
  );
});

test("the patient cannot give themselves a room through the SDK", async () => {
  const fresh = await signedInClient("js-patient-2@test.example", "patient-pass-2");
  try {
    await setDoc(doc(fresh.db, "appointments", "js-self"), {
      patientId: fresh.uid, doctorId: doctor.uid, type: "video", status: "pending",
      startTime: minutes(5), endTime: minutes(35),
    });
    await assert.rejects(
      updateDoc(doc(fresh.db, "appointments", "js-self"), { video: { roomName: "x".repeat(32) } }),
      { code: "permission-denied" },
    );
  } finally {
    await fresh.close();
  }
});
