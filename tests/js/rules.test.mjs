// firestore.rules as clients meet them: @firebase/rules-unit-testing contexts (a signed-in uid with chosen
// token claims, or signed out) against the Firestore emulator, seeded as admin with the rules off. Every case
// checks allow or deny; every deny also checks that nothing was written.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { initializeTestEnvironment, assertFails, assertSucceeds } from "@firebase/rules-unit-testing";
import {
  doc, getDoc, getDocs, setDoc, updateDoc, deleteDoc, deleteField, collection, collectionGroup, query, where,
  Timestamp, writeBatch,
} from "firebase/firestore";
import { signedInClient, makeDoctor, resetEmulators, projectId, waitForRoom } from "./emulators.mjs";

const rulesFile = fileURLToPath(new URL("../../firestore.rules", import.meta.url));
const clinicCommand = fileURLToPath(new URL("../../scripts/clinic", import.meta.url));
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const ROOM = { roomName: "q".repeat(32), provider: "jitsi", roomUrl: `https://meet.example.test/${"q".repeat(32)}` };
const SUBCOLLECTIONS = ["attendance", "guests", "recordings"];
// Read alike by the two participants; recordings have their own cases (the patient only where marked).
const SHARED = ["attendance", "guests"];

// Who acts: a uid and the claims in its ID token. Directory entries are seeded per case (see seed()).
const PEOPLE = {
  patient: { uid: "patient-uid", claims: {} },
  doctor: { uid: "doctor-uid", claims: { role: "doctor" } },
  stranger: { uid: "stranger-uid", claims: {} },
  // An ordinary account a patient might name as doctorId: no claim, no directory entry.
  impostor: { uid: "impostor-uid", claims: {} },
  // Claim still in its ID token, directory entry set inactive (as removal does first).
  removed: { uid: "removed-uid", claims: { role: "doctor" } },
  // Claim in its ID token, no directory entry at all.
  claim_only: { uid: "claim-only-uid", claims: { role: "doctor" } },
  // An active directory entry but no claim in the token (a token minted after the claim was removed).
  entry_only: { uid: "entry-only-uid", claims: {} },
  // An entry whose `active` is the string "true", not the boolean.
  truthy: { uid: "truthy-uid", claims: { role: "doctor" } },
  // A real, active doctor who is not on the seeded appointments.
  other_doctor: { uid: "other-doctor-uid", claims: { role: "doctor" } },
  // An anonymous account bound to the confirmed visit's invitation g1 (redeem_invite): a guest of the visit,
  // who joins through get_join_token and reads nothing directly.
  invited: { uid: "invited-guest-uid", claims: { firebase: { sign_in_provider: "anonymous" } } },
};
const uid = (who) => PEOPLE[who].uid;
const DOUBTFUL = ["impostor", "removed", "claim_only", "entry_only", "truthy"];

const at = (offsetMs) => Timestamp.fromMillis(Math.floor((Date.now() + offsetMs) / 1000) * 1000);

function baseFields() {
  const start = at(DAY);
  return {
    patientId: uid("patient"), doctorId: uid("doctor"), type: "video", status: "pending",
    startTime: start, endTime: Timestamp.fromMillis(start.toMillis() + 30 * MINUTE),
  };
}

/** A new booking: the base fields with changes; a change to `undefined` drops the field. */
function newBooking(changes = {}) {
  const fields = { ...baseFields(), ...changes };
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

let env;

/** Fresh documents (not accounts) for each case, written as admin: one appointment per status, and more. */
async function seed() {
  await env.clearFirestore();
  await env.withSecurityRulesDisabled(async (admin) => {
    const db = admin.firestore();
    const batch = writeBatch(db);
    for (const status of ["pending", "confirmed", "cancelled", "completed"]) {
      const fields = { ...baseFields(), status };
      if (status === "confirmed" || status === "completed") fields.video = ROOM;
      batch.set(doc(db, "appointments", status), fields);
    }
    // Appointments a server wrote naming each doubtful "doctor", to show none of them can act on or read one.
    for (const who of DOUBTFUL) {
      for (const status of ["pending", "confirmed"]) {
        batch.set(doc(db, "appointments", `${who}-${status}`), { ...baseFields(), status, doctorId: uid(who) });
      }
    }
    // The records under a visit: of the active doctor's, and of the removed doctor's former one.
    for (const visit of ["confirmed", "removed-confirmed"]) {
      batch.set(doc(db, "appointments", visit, "attendance", "a1"), { role: "doctor", event: "joined", at: at(0) });
      batch.set(doc(db, "appointments", visit, "guests", "g1"),
        { kind: "interpreter", name: "Ana", status: "redeemed", redeemedBy: uid("invited") });
      batch.set(doc(db, "appointments", visit, "recordings", "r1"), { status: "ready", bytes: 1024, patientAccess: false });
      batch.set(doc(db, "appointments", visit, "recordings", "r2"), { status: "ready", bytes: 2048, patientAccess: true });
    }
    const entries = [["doctor", true], ["removed", false], ["other_doctor", true], ["entry_only", true], ["truthy", "true"]];
    for (const [who, active] of entries) batch.set(doc(db, "doctors", uid(who)), { displayName: who, active });
    batch.set(doc(db, "videoAccessLog", "log1"), { appointmentId: "confirmed", outcome: "granted" });
    batch.set(doc(db, "guestInvites", "0".repeat(64)), { appointmentId: "confirmed", guestId: "g1" });
    batch.set(doc(db, "users", uid("doctor")), { locale: "en" });
    batch.set(doc(db, "users", uid("patient"), "notifications", "n1"),
      { kind: "reminder", appointmentId: "confirmed", startsAt: at(DAY), at: at(0), read: false });
    batch.set(doc(db, "users", uid("patient"), "devices", "tok-1"), { platform: "web", updatedAt: at(0) });
    batch.set(doc(db, "mail", "m1"), { to: "patient@test.example", message: { subject: "Reminder" } });
    await batch.commit();
  });
}

/** Every document a case could touch, read as admin: to prove a denied request changed nothing. */
async function snapshot() {
  const found = {};
  await env.withSecurityRulesDisabled(async (admin) => {
    const db = admin.firestore();
    const reads = ["appointments", "doctors", "videoAccessLog", "guestInvites", "notes", "users", "mail"]
      .map((name) => collection(db, name));
    reads.push(...[...SUBCOLLECTIONS, "notifications", "devices"].map((name) => collectionGroup(db, name)));
    for (const result of await Promise.all(reads.map((ref) => getDocs(ref)))) {
      for (const snap of result.docs) found[snap.ref.path] = JSON.stringify(snap.data());
    }
  });
  return found;
}

function client(who) {
  if (who === "anon") return env.unauthenticatedContext().firestore();
  return env.authenticatedContext(uid(who), PEOPLE[who].claims).firestore();
}

// Operations: each takes a Firestore as the actor and returns the promise of the request.
const get = (path) => (db) => getDoc(doc(db, path));
const list = (path) => (db) => getDocs(collection(db, path));
const queryOwn = (field, who) => (db) => getDocs(query(collection(db, "appointments"), where(field, "==", uid(who))));
const create = (changes, id = "new1") => (db) => setDoc(doc(db, "appointments", id), newBooking(changes));
const createWithId = (id) => create({}, id);
const bookWith = (who) => create({ doctorId: uid(who) });
const bookAt = (startOffset, length = 30 * MINUTE) => (db) => {
  const start = at(startOffset);
  return setDoc(doc(db, "appointments", "new1"),
    newBooking({ startTime: start, endTime: Timestamp.fromMillis(start.toMillis() + length) }));
};
const update = (id, fields) => (db) => updateDoc(doc(db, "appointments", id), fields);
/** Move an appointment to now + startOffset (not relative to its booking day), with other fields. */
const moveTo = (id, startOffset, length = 30 * MINUTE, more = {}) => (db) => {
  const start = at(startOffset);
  return updateDoc(doc(db, "appointments", id),
    { startTime: start, endTime: Timestamp.fromMillis(start.toMillis() + length), ...more });
};
/** Move an appointment to its booking day (tomorrow) + startOffset. */
const moveTimes = (id, startOffset, length = 30 * MINUTE) => moveTo(id, DAY + startOffset, length);
const write = (path, fields) => (db) => setDoc(doc(db, path), fields);
const remove = (path) => (db) => deleteDoc(doc(db, path));
const patientsRecordings = (visit) => (db) =>
  getDocs(query(collection(db, "appointments", visit, "recordings"), where("patientAccess", "==", true)));

const SETTINGS = `users/${uid("patient")}`;
const NOTES = `${SETTINGS}/notifications`;
const NOTE = `${NOTES}/n1`;
const DEVICES = `${SETTINGS}/devices`;

const ALLOW = "allow";
const DENY = "deny";

// [what, who, operation, expected]
const MATRIX = [
  // Reads and queries
  ["the patient reads their appointment", "patient", get("appointments/pending"), ALLOW],
  ["the doctor reads the appointment", "doctor", get("appointments/confirmed"), ALLOW],
  ["a stranger cannot read it", "stranger", get("appointments/pending"), DENY],
  ["a signed-out user cannot read it", "anon", get("appointments/pending"), DENY],
  ["the patient lists their own appointments", "patient", queryOwn("patientId", "patient"), ALLOW],
  ["the doctor lists their own appointments", "doctor", queryOwn("doctorId", "doctor"), ALLOW],
  ["an unfiltered list is denied", "patient", list("appointments"), DENY],
  ["a stranger cannot list the patient's", "stranger", queryOwn("patientId", "patient"), DENY],
  ["a signed-out list is denied", "anon", list("appointments"), DENY],
  ["another active doctor cannot read it", "other_doctor", get("appointments/confirmed"), DENY],
  ["another active doctor cannot query the doctor's", "other_doctor", queryOwn("doctorId", "doctor"), DENY],
  // Doctor reads need an active doctor (issue 24): claim and active directory entry, as writes do
  ["a removed doctor cannot read a former appointment", "removed", get("appointments/removed-confirmed"), DENY],
  ["a removed doctor's query for their former appointments is refused", "removed", queryOwn("doctorId", "removed"), DENY],
  ["a named ordinary account cannot read the appointment", "impostor", get("appointments/impostor-confirmed"), DENY],
  ["a named ordinary account's query is refused", "impostor", queryOwn("doctorId", "impostor"), DENY],
  ["a doctor missing from the directory cannot read", "claim_only", get("appointments/claim_only-confirmed"), DENY],
  ["a doctor missing from the directory cannot query", "claim_only", queryOwn("doctorId", "claim_only"), DENY],
  ["an active entry without the claim cannot read", "entry_only", get("appointments/entry_only-confirmed"), DENY],
  ["an active entry without the claim cannot query", "entry_only", queryOwn("doctorId", "entry_only"), DENY],
  ["an entry whose active is the string 'true' cannot read", "truthy", get("appointments/truthy-confirmed"), DENY],
  ["the patient still reads the removed doctor's appointment", "patient", get("appointments/removed-confirmed"), ALLOW],
  // What lives under a visit: attendance and guests (read by both), recordings (below)
  ...SHARED.flatMap((sub) => [
    [`the patient reads the ${sub}`, "patient", get(`appointments/confirmed/${sub}/${sub[0]}1`), ALLOW],
    [`the patient lists the ${sub}`, "patient", list(`appointments/confirmed/${sub}`), ALLOW],
    [`the doctor reads the ${sub}`, "doctor", get(`appointments/confirmed/${sub}/${sub[0]}1`), ALLOW],
    [`the doctor lists the ${sub}`, "doctor", list(`appointments/confirmed/${sub}`), ALLOW],
    [`a removed doctor cannot read the former visit's ${sub}`, "removed",
      get(`appointments/removed-confirmed/${sub}/${sub[0]}1`), DENY],
    [`a removed doctor cannot list the former visit's ${sub}`, "removed",
      list(`appointments/removed-confirmed/${sub}`), DENY],
    [`the patient still lists the removed doctor's visit's ${sub}`, "patient",
      list(`appointments/removed-confirmed/${sub}`), ALLOW],
    [`a stranger cannot read the ${sub}`, "stranger", get(`appointments/confirmed/${sub}/${sub[0]}1`), DENY],
    [`another active doctor cannot list the ${sub}`, "other_doctor", list(`appointments/confirmed/${sub}`), DENY],
    [`a signed-out user cannot list the ${sub}`, "anon", list(`appointments/confirmed/${sub}`), DENY],
    [`the doctor cannot write the ${sub}`, "doctor", write(`appointments/confirmed/${sub}/mine`, { a: 1 }), DENY],
    [`the patient cannot change the ${sub}`, "patient",
      (db) => updateDoc(doc(db, `appointments/confirmed/${sub}/${sub[0]}1`), { a: 1 }), DENY],
    [`the patient cannot delete the ${sub}`, "patient", remove(`appointments/confirmed/${sub}/${sub[0]}1`), DENY],
    [`the ${sub} of a missing appointment are closed`, "patient", list(`appointments/nowhere/${sub}`), DENY],
  ]),
  // Guests (issue 28): invitations are server-written; the invited guest reads nothing of the visit; the
  // lookup from a code's hash to its invitation is closed to every client
  ["the invited guest cannot read the appointment", "invited", get("appointments/confirmed"), DENY],
  ["the invited guest cannot read their own invitation", "invited", get("appointments/confirmed/guests/g1"), DENY],
  ["the invited guest cannot list the visit's guests", "invited", list("appointments/confirmed/guests"), DENY],
  ["the invited guest cannot read the attendance", "invited", list("appointments/confirmed/attendance"), DENY],
  ["the invited guest cannot query for the visit", "invited",
    (db) => getDocs(query(collection(db, "appointments"), where("patientId", "==", uid("patient")))), DENY],
  ["the patient cannot invite a guest by writing one", "patient",
    write("appointments/confirmed/guests/mine", { kind: "caregiver", name: "Me", status: "invited" }), DENY],
  ["the doctor cannot bind a guest by hand", "doctor",
    (db) => updateDoc(doc(db, "appointments/confirmed/guests/g1"), { redeemedBy: uid("stranger") }), DENY],
  ["the invited guest cannot un-remove themselves", "invited",
    (db) => updateDoc(doc(db, "appointments/confirmed/guests/g1"), { status: "redeemed" }), DENY],
  ["the patient cannot read an invitation lookup", "patient", get(`guestInvites/${"0".repeat(64)}`), DENY],
  ["the doctor cannot list the invitation lookups", "doctor", list("guestInvites"), DENY],
  ["the invited guest cannot read an invitation lookup", "invited", get(`guestInvites/${"0".repeat(64)}`), DENY],
  ["nobody can write an invitation lookup", "stranger",
    write(`guestInvites/${"1".repeat(64)}`, { appointmentId: "confirmed", guestId: "g2" }), DENY],
  ["a collection-group query over guests is refused", "doctor",
    (db) => getDocs(query(collectionGroup(db, "guests"), where("redeemedBy", "==", uid("invited")))), DENY],
  // Recordings: every record for the active doctor; for the patient only those marked patientAccess (from
  // VIDEO_PATIENT_RECORDING_ACCESS when made), so the patient's list must ask for exactly those.
  ["the doctor reads a recording", "doctor", get("appointments/confirmed/recordings/r1"), ALLOW],
  ["the doctor lists the recordings", "doctor", list("appointments/confirmed/recordings"), ALLOW],
  ["the patient cannot read an unmarked recording", "patient", get("appointments/confirmed/recordings/r1"), DENY],
  ["the patient reads a recording marked for patients", "patient", get("appointments/confirmed/recordings/r2"), ALLOW],
  ["the patient cannot list every recording", "patient", list("appointments/confirmed/recordings"), DENY],
  ["the patient lists those marked for patients", "patient", patientsRecordings("confirmed"), ALLOW],
  ["a removed doctor cannot read the former visit's recording", "removed",
    get("appointments/removed-confirmed/recordings/r1"), DENY],
  ["a removed doctor cannot list the former visit's recordings", "removed",
    list("appointments/removed-confirmed/recordings"), DENY],
  ["a stranger cannot read a recording marked for patients", "stranger",
    get("appointments/confirmed/recordings/r2"), DENY],
  ["a stranger cannot list those marked for patients", "stranger", patientsRecordings("confirmed"), DENY],
  ["another active doctor cannot list the recordings", "other_doctor", list("appointments/confirmed/recordings"), DENY],
  ["a signed-out user cannot read a recording", "anon", get("appointments/confirmed/recordings/r2"), DENY],
  ["the doctor cannot write a recording", "doctor", write("appointments/confirmed/recordings/mine", { a: 1 }), DENY],
  ["the patient cannot mark a recording for patients", "patient",
    (db) => updateDoc(doc(db, "appointments/confirmed/recordings/r1"), { patientAccess: true }), DENY],
  ["the doctor cannot delete a recording", "doctor", remove("appointments/confirmed/recordings/r1"), DENY],
  // Creation
  ["the patient books a valid appointment", "patient", create(), ALLOW],
  ["booking for another patient", "patient", create({ patientId: "someone-else" }), DENY],
  ["booking as the stranger for the patient", "stranger", create(), DENY],
  ["booking already confirmed", "patient", create({ status: "confirmed" }), DENY],
  ["booking with a video field", "patient", create({ video: ROOM }), DENY],
  ["booking with start equal to end", "patient", (db) => create({ endTime: baseFields().startTime })(db), DENY],
  [
    "booking that ends before it starts", "patient",
    (db) => create({ endTime: Timestamp.fromMillis(baseFields().startTime.toMillis() - 30 * MINUTE) })(db), DENY,
  ],
  ["booking without an end time", "patient", create({ endTime: undefined }), DENY],
  ["booking with a string start time", "patient", create({ startTime: "tomorrow at ten" }), DENY],
  ["booking with oneself as the doctor", "patient", create({ doctorId: uid("patient") }), DENY],
  ["booking with an unknown extra field", "patient", create({ priority: "urgent" }), DENY],
  ["booking with an unknown type", "patient", create({ type: "phone" }), DENY],
  ["booking with a numeric doctor id", "patient", create({ doctorId: 42 }), DENY],
  ["booking in the past", "patient", create({ startTime: at(-DAY), endTime: at(-DAY + 30 * MINUTE) }), DENY],
  ["booking signed out", "anon", create(), DENY],
  // Booking only with an active clinic doctor
  ["booking with another active doctor", "patient", bookWith("other_doctor"), ALLOW],
  ["booking with an ordinary account as doctor", "patient", bookWith("impostor"), DENY],
  ["booking with a removed (inactive) doctor", "patient", bookWith("removed"), DENY],
  ["booking with a claimed doctor missing from the directory", "patient", bookWith("claim_only"), DENY],
  ["booking with a doctor whose active is the string 'true'", "patient", bookWith("truthy"), DENY],
  ["booking with a uid that is no account", "patient", create({ doctorId: "no-such-uid" }), DENY],
  // Booking times: a minute's grace, a year ahead, four hours long
  ["booking starting 20 s ago (within the grace)", "patient", bookAt(-20_000), ALLOW],
  ["booking starting 2 minutes ago", "patient", bookAt(-2 * MINUTE), DENY],
  ["booking 364 days ahead", "patient", bookAt(364 * DAY), ALLOW],
  ["booking 366 days ahead", "patient", bookAt(366 * DAY), DENY],
  ["booking exactly 4 hours long", "patient", bookAt(DAY, 4 * HOUR), ALLOW],
  ["booking 4 hours and a second long", "patient", bookAt(DAY, 4 * HOUR + 1000), DENY],
  // Appointment ids: [A-Za-z0-9_-]{1,128}, nothing else
  ["an id of one character", "patient", createWithId("x"), ALLOW],
  ["an id of 128 characters", "patient", createWithId("a-_9".repeat(32)), ALLOW],
  ["an id of 129 characters", "patient", createWithId("b".repeat(129)), DENY],
  ["an id with a non-ASCII letter", "patient", createWithId("caf\u00e9"), DENY],
  ["an id with a no-break space", "patient", createWithId("a\u00a0b"), DENY],
  ["an id with a zero-width space", "patient", createWithId("a\u200bb"), DENY],
  ["an id with a right-to-left override", "patient", createWithId("a\u202eb"), DENY],
  ["an id with a Cyrillic look-alike", "patient", createWithId("\u0430ppt"), DENY],
  ["an id with a dot", "patient", createWithId("a.b"), DENY],
  ["an id with a space", "patient", createWithId("a b"), DENY],
  // Status moves
  ["the doctor confirms a pending one", "doctor", update("pending", { status: "confirmed" }), ALLOW],
  ["the doctor cancels a pending one", "doctor", update("pending", { status: "cancelled" }), ALLOW],
  ["the doctor cancels a confirmed one", "doctor", update("confirmed", { status: "cancelled" }), ALLOW],
  ["the doctor completes a confirmed one", "doctor", update("confirmed", { status: "completed" }), ALLOW],
  ["the doctor cannot complete a pending one", "doctor", update("pending", { status: "completed" }), DENY],
  ["the doctor cannot re-confirm a cancelled one", "doctor", update("cancelled", { status: "confirmed" }), DENY],
  ["the doctor cannot reopen a completed one", "doctor", update("completed", { status: "confirmed" }), DENY],
  ["the doctor cannot set confirmed back to pending", "doctor", update("confirmed", { status: "pending" }), DENY],
  ["the doctor cannot invent a status", "doctor", update("pending", { status: "approved" }), DENY],
  ["the patient cannot confirm", "patient", update("pending", { status: "confirmed" }), DENY],
  ["the patient cancels a pending one", "patient", update("pending", { status: "cancelled" }), ALLOW],
  ["the patient cancels a confirmed one", "patient", update("confirmed", { status: "cancelled" }), ALLOW],
  ["the patient cannot complete", "patient", update("confirmed", { status: "completed" }), DENY],
  ["the patient cannot touch a completed one", "patient", update("completed", { status: "cancelled" }), DENY],
  ["a stranger cannot cancel", "stranger", update("pending", { status: "cancelled" }), DENY],
  ["a signed-out user cannot cancel", "anon", update("pending", { status: "cancelled" }), DENY],
  // Only an active clinic doctor who is the appointment's doctorId acts as its doctor
  ["a named ordinary account cannot confirm", "impostor", update("impostor-pending", { status: "confirmed" }), DENY],
  ["a named ordinary account cannot cancel", "impostor", update("impostor-confirmed", { status: "cancelled" }), DENY],
  ["a named ordinary account cannot complete", "impostor", update("impostor-confirmed", { status: "completed" }), DENY],
  ["a named ordinary account cannot move times", "impostor", moveTimes("impostor-pending", DAY), DENY],
  ["a removed doctor cannot confirm", "removed", update("removed-pending", { status: "confirmed" }), DENY],
  ["a removed doctor cannot cancel", "removed", update("removed-confirmed", { status: "cancelled" }), DENY],
  ["a removed doctor cannot complete", "removed", update("removed-confirmed", { status: "completed" }), DENY],
  ["a removed doctor cannot move times", "removed", moveTimes("removed-pending", DAY), DENY],
  ["a doctor missing from the directory cannot confirm", "claim_only",
    update("claim_only-pending", { status: "confirmed" }), DENY],
  ["an active entry without the claim cannot confirm", "entry_only",
    update("entry_only-pending", { status: "confirmed" }), DENY],
  ["another active doctor cannot confirm it", "other_doctor", update("pending", { status: "confirmed" }), DENY],
  ["another active doctor cannot cancel it", "other_doctor", update("confirmed", { status: "cancelled" }), DENY],
  // Moving times
  ["the doctor moves a pending one", "doctor", moveTimes("pending", 2 * HOUR), ALLOW],
  ["the doctor moves a confirmed one", "doctor", moveTimes("confirmed", 2 * HOUR), ALLOW],
  ["the doctor cannot move a cancelled one", "doctor", moveTimes("cancelled", 2 * HOUR), DENY],
  ["the doctor cannot move a completed one", "doctor", moveTimes("completed", 2 * HOUR), DENY],
  ["the doctor cannot make it end before it starts", "doctor", moveTimes("pending", 2 * HOUR, -30 * MINUTE), DENY],
  ["the patient cannot move times", "patient", moveTimes("pending", 2 * HOUR), DENY],
  ["the doctor moves it to start within the grace", "doctor", moveTo("pending", -20_000), ALLOW],
  ["the doctor cannot move it into the past", "doctor", moveTo("pending", -2 * MINUTE), DENY],
  ["the doctor moves it 364 days ahead", "doctor", moveTo("confirmed", 364 * DAY), ALLOW],
  ["the doctor cannot move it 366 days ahead", "doctor", moveTo("confirmed", 366 * DAY), DENY],
  ["the doctor makes it 4 hours long", "doctor", moveTo("pending", DAY, 4 * HOUR), ALLOW],
  ["the doctor cannot make it longer than 4 hours", "doctor", moveTo("pending", DAY, 4 * HOUR + 1000), DENY],
  ["the doctor cannot move times in the write that completes it", "doctor",
    moveTo("confirmed", DAY + 2 * HOUR, 30 * MINUTE, { status: "completed" }), DENY],
  ["the doctor cannot move times in the write that confirms it", "doctor",
    moveTo("pending", DAY + 2 * HOUR, 30 * MINUTE, { status: "confirmed" }), DENY],
  ["the doctor cannot move times in the write that cancels it", "doctor",
    moveTo("confirmed", DAY + 2 * HOUR, 30 * MINUTE, { status: "cancelled" }), DENY],
  // Server-only and fixed fields
  ["the doctor cannot write video", "doctor", update("confirmed", { video: { roomName: "mine" } }), DENY],
  ["the patient cannot give themselves a room", "patient", update("pending", { video: ROOM }), DENY],
  ["the doctor cannot delete video", "doctor", update("confirmed", { video: deleteField() }), DENY],
  ["the doctor cannot change patientId", "doctor", update("pending", { patientId: "someone-else" }), DENY],
  ["the patient cannot change doctorId", "patient", update("pending", { doctorId: uid("stranger") }), DENY],
  ["the doctor cannot change the type", "doctor", update("pending", { type: "in_person" }), DENY],
  // Deletes
  ["the patient cannot delete", "patient", remove("appointments/pending"), DENY],
  ["the doctor cannot delete", "doctor", remove("appointments/confirmed"), DENY],
  // The doctor directory: readable when signed in, written by no client
  ["a patient reads a doctor's entry", "patient", get(`doctors/${uid("doctor")}`), ALLOW],
  ["a patient lists the directory", "patient", list("doctors"), ALLOW],
  ["a signed-out user cannot read the directory", "anon", get(`doctors/${uid("doctor")}`), DENY],
  ["an account cannot add itself to the directory", "impostor",
    write(`doctors/${uid("impostor")}`, { displayName: "Dr. Me", active: true }), DENY],
  ["a removed doctor cannot reactivate their entry", "removed",
    (db) => updateDoc(doc(db, `doctors/${uid("removed")}`), { active: true }), DENY],
  ["a doctor cannot edit their own entry", "doctor",
    (db) => updateDoc(doc(db, `doctors/${uid("doctor")}`), { displayName: "Dr. Renamed" }), DENY],
  ["a doctor cannot delete their entry", "doctor", remove(`doctors/${uid("doctor")}`), DENY],
  // The audit log and unnamed collections
  ["the patient cannot read the audit log", "patient", get("videoAccessLog/log1"), DENY],
  ["the doctor cannot list the audit log", "doctor", list("videoAccessLog"), DENY],
  ["nobody can write the audit log", "patient", write("videoAccessLog/x", { outcome: "ok" }), DENY],
  ["an unnamed collection is closed for writes", "patient", write("notes/n1", { a: 1 }), DENY],
  ["an unnamed collection is closed for reads", "doctor", get("notes/n1"), DENY],
  // Notifications (docs/reminders.md): the owner reads them and marks them read; nobody else, nothing else
  ["the patient reads their notification", "patient", get(NOTE), ALLOW],
  ["the patient lists their notifications", "patient", list(NOTES), ALLOW],
  ["the doctor cannot read the patient's notification", "doctor", get(NOTE), DENY],
  ["a stranger cannot list the patient's notifications", "stranger", list(NOTES), DENY],
  ["the patient marks their notification read", "patient", (db) => updateDoc(doc(db, NOTE), { read: true }), ALLOW],
  ["a stranger cannot mark the patient's notification read", "stranger",
    (db) => updateDoc(doc(db, NOTE), { read: true }), DENY],
  ["the patient cannot change what a notification says", "patient",
    (db) => updateDoc(doc(db, NOTE), { read: true, kind: "ready" }), DENY],
  ["read must be true or false", "patient", (db) => updateDoc(doc(db, NOTE), { read: "yes" }), DENY],
  ["the patient cannot write a notification", "patient", write(`${NOTES}/n2`, { kind: "ready", read: false }), DENY],
  ["the patient cannot delete a notification", "patient", remove(NOTE), DENY],
  // Devices for push: written and deleted by their owner's app only
  ["the patient registers a device", "patient", write(`${DEVICES}/tok-2`, { platform: "android", updatedAt: at(0) }),
    ALLOW],
  ["the patient removes a device", "patient", remove(`${DEVICES}/tok-1`), ALLOW],
  ["the patient lists their devices", "patient", list(DEVICES), ALLOW],
  ["a stranger cannot register a device for the patient", "stranger", write(`${DEVICES}/tok-3`, { platform: "web" }),
    DENY],
  ["a stranger cannot remove the patient's device", "stranger", remove(`${DEVICES}/tok-1`), DENY],
  ["the doctor cannot list the patient's devices", "doctor", list(DEVICES), DENY],
  ["a device of an unknown platform", "patient", write(`${DEVICES}/tok-4`, { platform: "tv" }), DENY],
  ["the patient registers a legacy registration token", "patient",
    write(`${DEVICES}/tok-6`, { platform: "web", kind: "token" }), ALLOW],
  ["a device of an unknown kind", "patient", write(`${DEVICES}/tok-7`, { platform: "web", kind: "apns" }), DENY],
  ["a device with an extra field", "patient", write(`${DEVICES}/tok-5`, { platform: "web", name: "Pat's phone" }),
    DENY],
  // Notification settings: the owner's own, checked
  ["a user reads their own settings", "doctor", get(`users/${uid("doctor")}`), ALLOW],
  ["the patient turns email off", "patient", write(SETTINGS, { notify: { email: false } }), ALLOW],
  ["the patient chooses Turkish and Istanbul time", "patient",
    write(SETTINGS, { locale: "tr", timeZone: "Europe/Istanbul" }), ALLOW],
  ["a language without texts", "patient", write(SETTINGS, { locale: "de" }), DENY],
  ["an opt-out of an unknown channel", "patient", write(SETTINGS, { notify: { fax: false } }), DENY],
  ["an opt-out that is not true or false", "patient", write(SETTINGS, { notify: { email: "off" } }), DENY],
  ["a settings field the backend does not read", "patient", write(SETTINGS, { locale: "en", phone: "+15550100" }),
    DENY],
  ["nobody reads another user's settings", "patient", get(`users/${uid("doctor")}`), DENY],
  ["nobody writes another user's settings", "stranger", write(SETTINGS, { locale: "tr" }), DENY],
  ["the mail queue is closed to clients", "patient", get("mail/m1"), DENY],
];

before(async () => {
  const [host, port] = (process.env.FIRESTORE_EMULATOR_HOST ?? "127.0.0.1:8080").split(":");
  env = await initializeTestEnvironment({
    projectId,
    firestore: { rules: readFileSync(rulesFile, "utf8"), host, port: Number(port) },
  });
  // No trigger may race a case's check (a confirmed video visit would get a room written).
  await backgroundTriggers("disable");
});

after(async () => {
  await env?.clearFirestore();
  await backgroundTriggers("enable");
  // The events of writes made while triggers were paused are delivered late, after a back-off, and the next
  // file's trigger events would queue behind them: a probe visit's room shows they have all been delivered.
  if (env && process.env.FIREBASE_EMULATOR_HUB) {
    const start = new Date(Date.now() + 5 * 60_000);
    await env.withSecurityRulesDisabled(async (admin) => {
      await setDoc(doc(admin.firestore(), "appointments/rules-probe"), {
        patientId: "probe-patient", doctorId: "probe-doctor", type: "video", status: "confirmed",
        startTime: start, endTime: new Date(start.getTime() + 30 * 60_000),
      });
    });
    await waitForRoom("rules-probe", 180_000);
    await env.clearFirestore();
  }
  await env?.cleanup();
});

async function backgroundTriggers(verb) {
  const hub = process.env.FIREBASE_EMULATOR_HUB;
  if (!hub) return;
  const reply = await fetch(`http://${hub}/functions/${verb}BackgroundTriggers`, { method: "PUT" });
  assert.ok(reply.ok, `could not ${verb} background triggers: ${reply.status}`);
}

describe("the rules matrix", () => {
  // The seeded data as the last case left it, or null when a case may have changed it. A denied case is
  // shown to change nothing (its snapshot after equals the seeded one), so the next case starts from the
  // same data without seeding again; after an allowed case, or a failed one, the data is seeded afresh.
  let seeded = null;
  before(() => { seeded = null; });

  for (const [what, who, op, expected] of MATRIX) {
    test(`${what} (${who}: ${expected})`, async () => {
      if (seeded === null) {
        await seed();
        seeded = await snapshot();
      }
      const start = seeded;
      seeded = null;
      if (expected === ALLOW) {
        await assertSucceeds(op(client(who)));
      } else {
        const error = await assertFails(op(client(who)));
        assert.equal(error.code, "permission-denied");
        assert.deepEqual(await snapshot(), start, "a denied request changed data");
        seeded = start;
      }
    });
  }
});

test("the matrix has at least 150 cases and an allow for every kind of write", () => {
  assert.ok(MATRIX.length >= 150, `only ${MATRIX.length} cases`);
  assert.ok(MATRIX.filter(([, , , expected]) => expected === ALLOW).length >= 30);
  assert.equal(new Set(MATRIX.map(([what]) => what)).size, MATRIX.length, "two cases share a name");
});

test("a patient listing their own appointments sees exactly theirs", async () => {
  await seed();
  const mine = await assertSucceeds(queryOwn("patientId", "patient")(client("patient")));
  assert.equal(mine.size, 4 + 2 * DOUBTFUL.length);
  assert.ok(mine.docs.every((snap) => snap.data().patientId === uid("patient")));
});

test("an active doctor's query sees exactly their appointments", async () => {
  await seed();
  const theirs = await assertSucceeds(queryOwn("doctorId", "doctor")(client("doctor")));
  assert.deepEqual(theirs.docs.map((snap) => snap.id).sort(), ["cancelled", "completed", "confirmed", "pending"]);
});

// Removal as it happens: a real account made a doctor and removed with scripts/clinic, reading through the
// Firebase JS SDK with the same ID token (which still carries the claim for up to an hour).
describe("a doctor removed with scripts/clinic", () => {
  let patient, doctor;

  before(async () => {
    await resetEmulators();
    patient = await signedInClient("rules-patient@test.example", "patient-pass-1");
    doctor = await makeDoctor(await signedInClient("rules-doctor@test.example", "doctor-pass-1"), "Dr. Rules");
    await env.withSecurityRulesDisabled(async (admin) => {
      const db = admin.firestore();
      await setDoc(doc(db, "appointments", "former"),
        { ...baseFields(), patientId: patient.uid, doctorId: doctor.uid, status: "confirmed", video: ROOM });
      for (const sub of SUBCOLLECTIONS) await setDoc(doc(db, "appointments", "former", sub, "x1"), { patientAccess: true });
    });
  });

  after(async () => {
    for (const c of [patient, doctor]) await c?.close();
  });

  test("reads nothing of their former appointments from the moment removal completes", async () => {
    const theirs = () => getDocs(query(collection(doctor.db, "appointments"), where("doctorId", "==", doctor.uid)));
    assert.equal((await assertSucceeds(theirs())).size, 1);
    for (const sub of SUBCOLLECTIONS) await assertSucceeds(getDocs(collection(doctor.db, "appointments", "former", sub)));
    const token = await doctor.auth.currentUser.getIdTokenResult();
    assert.equal(token.claims.role, "doctor");

    execFileSync(clinicCommand, ["remove-doctor", "--uid", doctor.uid], { stdio: "pipe" });

    // The very same ID token, claim and all: refused.
    assert.equal((await doctor.auth.currentUser.getIdTokenResult()).token, token.token);
    await assertFails(theirs());
    await assertFails(getDoc(doc(doctor.db, "appointments", "former")));
    for (const sub of SUBCOLLECTIONS) await assertFails(getDocs(collection(doctor.db, "appointments", "former", sub)));
    // The patient reads on as before.
    await assertSucceeds(getDoc(doc(patient.db, "appointments", "former")));
    for (const sub of SHARED) await assertSucceeds(getDocs(collection(patient.db, "appointments", "former", sub)));
    await assertSucceeds(patientsRecordings("former")(patient.db));
  });
});
