// Shared set-up for the JavaScript client tests: Firebase apps wired to the running emulator suite.
import { initializeApp, deleteApp } from "firebase/app";
import {
  getAuth, connectAuthEmulator, createUserWithEmailAndPassword, signInAnonymously, updateProfile,
} from "firebase/auth";
import { getFirestore, connectFirestoreEmulator, terminate, doc, onSnapshot } from "firebase/firestore";
import { getFunctions, connectFunctionsEmulator } from "firebase/functions";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const clinicCommand = fileURLToPath(new URL("../../scripts/clinic", import.meta.url));

export const projectId = process.env.GCLOUD_PROJECT ?? "demo-telehealth";

function hostPort(variable, fallback) {
  const [host, port] = (process.env[variable] ?? fallback).split(":");
  return { host, port: Number(port) };
}

let counter = 0;
// The clients of this process that are still open. A client's Listen stream must not outlive a reset: the
// Firestore emulator's realtime listeners break after its documents are deleted under them (firebase-tools
// issue 8654, open: RESOURCE_EXHAUSTED on the Listen stream, as in issue 23's `Received message larger than
// max (3582509016 vs 17825792)`), and the SDK then backs off silently for up to a minute.
// resetEmulators() refuses while any client is open.
const openClients = new Set();

/** A Firebase app of its own (as on its own device), wired to the emulators; `signIn(auth)` signs it in. */
async function clientWith(name, signIn) {
  const app = initializeApp({ apiKey: "demo-key", projectId, authDomain: `${projectId}.firebaseapp.com` },
    `client-${++counter}-${name}`);
  const auth = getAuth(app);
  const a = hostPort("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099");
  connectAuthEmulator(auth, `http://${a.host}:${a.port}`, { disableWarnings: true });
  const db = getFirestore(app);
  const f = hostPort("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080");
  connectFirestoreEmulator(db, f.host, f.port);
  const functions = getFunctions(app, "us-central1");
  const fn = hostPort("FUNCTIONS_EMULATOR_HOST", "127.0.0.1:5001");
  connectFunctionsEmulator(functions, fn.host, fn.port);
  const { user } = await signIn(auth);
  const client = {
    app, auth, db, functions, uid: user.uid, email: user.email ?? name,
    async close() {
      openClients.delete(client);
      await terminate(db);
      await deleteApp(app);
    },
  };
  openClients.add(client);
  return client;
}

/** A signed-in user with their own Firebase app (as on their own device). */
export async function signedInClient(email, password, displayName) {
  return clientWith(email, async (auth) => {
    const credential = await createUserWithEmailAndPassword(auth, email, password);
    if (displayName) {
      await updateProfile(credential.user, { displayName });
      await credential.user.getIdToken(true);
    }
    return credential;
  });
}

/** An anonymous account on its own device, as a guest opening an invitation link signs in. */
export async function anonymousClient(name = "anonymous") {
  return clientWith(name, (auth) => signInAnonymously(auth));
}

/**
 * Make a signed-in client's account an active doctor the only way there is: its email verified (as the
 * doctor does from the verification mail), then the clinic's admin command (scripts/clinic add-doctor
 * --existing, Admin SDK), then a new ID token that carries the claim. The command revokes the account's
 * earlier sessions; the Auth emulator still honours their refresh token (production does not: the doctor
 * signs in again), so the refresh below stands in for that sign-in.
 */
export async function makeDoctor(client, name) {
  const a = hostPort("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099");
  const reply = await fetch(`http://${a.host}:${a.port}/identitytoolkit.googleapis.com/v1/projects/${projectId}/accounts:update`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer owner" },
    body: JSON.stringify({ localId: client.uid, emailVerified: true }),
  });
  if (!reply.ok) throw new Error(`could not verify the email: ${reply.status}`);
  // Not execFileSync: a blocked event loop cannot see the Auth emulator close the idle keep-alive socket
  // meanwhile (after 5 s; the command takes longer on a loaded machine), and the token refresh below then
  // goes out on that dead socket: auth/network-request-failed, "fetch failed".
  await promisify(execFile)(clinicCommand, ["add-doctor", "--email", client.email, "--name", name, "--existing"]);
  await client.auth.currentUser.getIdToken(true);
  return client;
}

/** Empty the Firestore and Auth emulators; only while no client of this process is open (see openClients). */
export async function resetEmulators() {
  if (openClients.size > 0) {
    const who = [...openClients].map((client) => client.email).join(", ");
    throw new Error(`reset with open clients (${who}): close them first, their listeners would outlive the reset`);
  }
  const f = hostPort("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080");
  const a = hostPort("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099");
  for (const url of [
    `http://${f.host}:${f.port}/emulator/v1/projects/${projectId}/databases/(default)/documents`,
    `http://${a.host}:${a.port}/emulator/v1/projects/${projectId}/accounts`,
  ]) {
    const reply = await fetch(url, { method: "DELETE" });
    if (!reply.ok) throw new Error(`reset failed: ${reply.status}`);
  }
}

/** An appointment as the Firestore emulator holds it, read over REST as admin (no SDK, no Listen stream). */
async function adminRead(path) {
  const f = hostPort("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080");
  const url = `http://${f.host}:${f.port}/v1/projects/${projectId}/databases/(default)/documents/${path}`;
  const reply = await fetch(url, { headers: { Authorization: "Bearer owner" } });
  if (reply.status === 404) return undefined;
  if (!reply.ok) throw new Error(`admin read of ${path} failed: ${reply.status}`);
  return reply.json();
}

/** Firestore REST's typed value for a plain JS value (strings, numbers, booleans, Dates, null). */
function restValue(value) {
  if (value === null) return { nullValue: null };
  if (value instanceof Date) return { timestampValue: value.toISOString() };
  if (typeof value === "string") return { stringValue: value };
  if (typeof value === "boolean") return { booleanValue: value };
  if (Number.isInteger(value)) return { integerValue: String(value) };
  throw new Error(`no REST form for ${typeof value}`);
}

/** Write a document as a server does (admin, past the rules): what no client may write, e.g. past times. */
export async function adminWrite(path, fields) {
  const f = hostPort("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080");
  const url = `http://${f.host}:${f.port}/v1/projects/${projectId}/databases/(default)/documents/${path}`;
  const body = { fields: Object.fromEntries(Object.entries(fields).map(([name, value]) => [name, restValue(value)])) };
  const reply = await fetch(url, {
    method: "PATCH",
    headers: { Authorization: "Bearer owner", "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!reply.ok) throw new Error(`admin write of ${path} failed: ${reply.status}`);
}

/** The audit records of one appointment (videoAccessLog, read as admin): `{uid, outcome, reason}` each. */
export async function auditRecords(appointmentId) {
  const f = hostPort("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080");
  const url = `http://${f.host}:${f.port}/v1/projects/${projectId}/databases/(default)/documents/videoAccessLog?pageSize=1000`;
  const reply = await fetch(url, { headers: { Authorization: "Bearer owner" } });
  if (!reply.ok) throw new Error(`admin list of videoAccessLog failed: ${reply.status}`);
  const { documents = [] } = await reply.json();
  return documents
    .map(({ fields }) => ({
      appointmentId: fields.appointmentId?.stringValue,
      uid: fields.uid?.stringValue,
      outcome: fields.outcome?.stringValue,
      reason: fields.reason?.stringValue,
    }))
    .filter((record) => record.appointmentId === appointmentId);
}

/** The room the trigger wrote on an appointment, read as admin; waits for that write with a deadline. */
export async function waitForRoom(appointmentId, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const stored = await adminRead(`appointments/${appointmentId}`);
    const name = stored?.fields?.video?.mapValue?.fields?.roomName?.stringValue;
    if (name) return name;
    if (Date.now() > deadline) throw new Error(`the trigger wrote no room on ${appointmentId} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25)); // the poll's interval, not a wait for the event
  }
}

/**
 * Start listening to an appointment as `client`, before the write that should give it a room.
 * `room` resolves with the room name (or rejects at the deadline); the listener is always removed,
 * so it can never outlive its test (e.g. fire with permission-denied after a later sign-out).
 */
export function listenForRoom(client, appointmentId, ms = 30_000) {
  let stop = () => {};
  const room = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no room on ${appointmentId} within ${ms} ms`)), ms);
    stop = onSnapshot(doc(client.db, "appointments", appointmentId), (snap) => {
      const name = snap.data()?.video?.roomName;
      if (name) {
        clearTimeout(timer);
        resolve(name);
      }
    }, (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  // Whether the listener, not the trigger, is what failed: if the room is stored but the listener never saw
  // it, say so (a broken Listen stream) instead of only timing out.
  const explained = room.catch(async (error) => {
    const stored = await adminRead(`appointments/${appointmentId}`).catch(() => undefined);
    if (stored?.fields?.video?.mapValue?.fields?.roomName) {
      throw new Error(`the trigger wrote the room on ${appointmentId} but the listener did not see it: ${error.message}`);
    }
    throw error;
  });
  return { room: explained.finally(() => stop()) };
}
