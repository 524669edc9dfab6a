// The three-person visit through the official Firebase JS SDK, as the apps make it: the doctor invites an
// interpreter, the interpreter opens the link signed in anonymously, redeems it and joins after the doctor as a
// labelled guest beside the patient; the patient sees the guest and removes them, and the guest is refused.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { doc, getDoc, getDocs, collection, setDoc, updateDoc, Timestamp } from "firebase/firestore";
import { httpsCallable } from "firebase/functions";
import { signedInClient, anonymousClient, resetEmulators, makeDoctor, waitForRoom } from "./emulators.mjs";

let patient, doctor, guest, latecomer;
const minutes = (n) => Timestamp.fromMillis(Date.now() + n * 60_000);
const call = (client, name, data) => httpsCallable(client.functions, name)(data).then((answer) => answer.data);
const claimsOf = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());

before(async () => {
  await resetEmulators();
  patient = await signedInClient("guests-patient@test.example", "patient-pass-1", "Pat Demo");
  doctor = await makeDoctor(await signedInClient("guests-doctor@test.example", "doctor-pass-1"), "Dr. Three");
});

after(async () => {
  for (const client of [patient, doctor, guest, latecomer]) await client?.close();
});

test("the doctor invites, an anonymous guest joins after the doctor beside the patient, the patient removes them", async () => {
  await setDoc(doc(patient.db, "appointments", "js-three"), {
    patientId: patient.uid, doctorId: doctor.uid, type: "video", status: "pending",
    startTime: minutes(5), endTime: minutes(35),
  });
  await updateDoc(doc(doctor.db, "appointments", "js-three"), { status: "confirmed" });
  const room = await waitForRoom("js-three");

  // The patient cannot invite; the doctor can, once (VIDEO_MAX_GUESTS defaults to one).
  await assert.rejects(call(patient, "invite_guest", { appointmentId: "js-three", kind: "caregiver", name: "Kim" }),
    (error) => error.code === "functions/not-found" && error.details === undefined);
  const invited = await call(doctor, "invite_guest", { appointmentId: "js-three", kind: "interpreter", name: "Ana Lima" });
  assert.match(invited.inviteCode, /^[A-Za-z0-9_-]{32}$/);
  await assert.rejects(call(doctor, "invite_guest", { appointmentId: "js-three", kind: "caregiver", name: "Kim" }),
    (error) => error.code === "functions/failed-precondition" && error.details?.reason === "guest_limit");

  // Both participants see the invitation, without its code.
  for (const client of [patient, doctor]) {
    const listed = await getDocs(collection(client.db, "appointments", "js-three", "guests"));
    assert.deepEqual(listed.docs.map((snap) => [snap.id, snap.data().kind, snap.data().name, snap.data().status]),
      [[invited.guestId, "interpreter", "Ana Lima", "invited"]]);
    assert.ok(!JSON.stringify(listed.docs.map((snap) => snap.data())).includes(invited.inviteCode));
  }

  // The interpreter opens the link on their own device: an anonymous account, the code from the link.
  guest = await anonymousClient("guests-interpreter");
  assert.equal(guest.auth.currentUser.isAnonymous, true);
  const redeemed = await call(guest, "redeem_invite", { inviteCode: invited.inviteCode });
  assert.deepEqual([redeemed.appointmentId, redeemed.guestId, redeemed.kind], ["js-three", invited.guestId, "interpreter"]);
  assert.equal(redeemed.expiresAt, invited.expiresAt);
  // A guest reads nothing of the visit directly; they wait for the doctor like the patient does.
  await assert.rejects(getDoc(doc(guest.db, "appointments", "js-three")), { code: "permission-denied" });
  await assert.rejects(call(guest, "get_join_token", { appointmentId: "js-three" }),
    (error) => error.code === "functions/failed-precondition" && error.details?.reason === "waiting_for_doctor");

  const asDoctor = await call(doctor, "get_join_token", { appointmentId: "js-three" });
  const asPatient = await call(patient, "get_join_token", { appointmentId: "js-three" });
  const asGuest = await call(guest, "get_join_token", { appointmentId: "js-three" });
  assert.deepEqual([asDoctor.roomName, asPatient.roomName, asGuest.roomName], [room, room, room]);
  assert.deepEqual([asDoctor.role, asPatient.role, asGuest.role], ["moderator", "guest", "guest"]);
  const people = [asDoctor, asPatient, asGuest].map((answer) => claimsOf(answer.token).context.user);
  assert.deepEqual(people.map((user) => [user.id, user.name, user.moderator]), [
    ["doctor", "Dr. Three", "true"],
    ["patient", "Pat Demo · patient", "false"],
    [`guest-${invited.guestId}`, "Ana Lima · interpreter", "false"],
  ]);

  // Another account with the same link is refused as a wrong code is.
  latecomer = await anonymousClient("guests-latecomer");
  for (const inviteCode of [invited.inviteCode, "W".repeat(32)]) {
    await assert.rejects(call(latecomer, "redeem_invite", { inviteCode }),
      (error) => error.code === "functions/not-found" && error.message.startsWith("Invitation not found.")
        && error.details === undefined);
  }

  // The patient removes the guest: refused at once, and their place is free for another.
  assert.deepEqual(await call(patient, "remove_guest", { appointmentId: "js-three", guestId: invited.guestId }),
    { guestId: invited.guestId, removed: true });
  await assert.rejects(call(guest, "get_join_token", { appointmentId: "js-three" }),
    (error) => error.code === "functions/not-found" && error.details === undefined);
  const status = (await getDoc(doc(patient.db, "appointments", "js-three", "guests", invited.guestId))).data();
  assert.deepEqual([status.status, status.removedBy, status.redeemedBy], ["removed", "patient", guest.uid]);
  const next = await call(doctor, "invite_guest", { appointmentId: "js-three", kind: "caregiver", name: "Kim" });
  assert.notEqual(next.guestId, invited.guestId);
});
