// Shared set-up for the JavaScript client tests: Firebase apps wired to the running emulator suite.
import { initializeApp, deleteApp } from "firebase/app";
import { getAuth, connectAuthEmulator, createUserWithEmailAndPassword, updateProfile } from "firebase/auth";
import { getFirestore, connectFirestoreEmulator, terminate, doc, onSnapshot } from "firebase/firestore";
import { getFunctions, connectFunctionsEmulator } from "firebase/functions";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const clinicCommand = fileURLToPath(new URL("../../scripts/clinic", import.meta.url));

export const projectId = process.env.GCLOUD_PROJECT ?? "demo-telehealth";

function hostPort(variable, fallback) {
  const [host, port] = (process.env[variable] ?? fallback).split(":");
  return { host, port: Number(port) };
}

let counter = 0;

/** A signed-in user with their own Firebase app (as on their own device). */
export async function signedInClient(email, password, displayName) {
  const app = initializeApp({ apiKey: "demo-key", projectId, authDomain: `${projectId}.firebaseapp.com` },
    `client-${++counter}-${email}`);
  const auth = getAuth(app);
  const a = hostPort("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099");
  connectAuthEmulator(auth, `http://${a.host}:${a.port}`, { disableWarnings: true });
  const db = getFirestore(app);
  const f = hostPort("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080");
  connectFirestoreEmulator(db, f.host, f.port);
  const functions = getFunctions(app, "us-central1");
  const fn = hostPort("FUNCTIONS_EMULATOR_HOST", "127.0.0.1:5001");
  connectFunctionsEmulator(functions, fn.host, fn.port);
  const { user } = await createUserWithEmailAndPassword(auth, email, password);
  if (displayName) {
    await updateProfile(user, { displayName });
    await user.getIdToken(true);
  }
  return {
    app, auth, db, functions, uid: user.uid, email,
    async close() {
      await terminate(db);
      await deleteApp(app);
    },
  };
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
  execFileSync(clinicCommand, ["add-doctor", "--email", client.email, "--name", name, "--existing"], { stdio: "pipe" });
  await client.auth.currentUser.getIdToken(true);
  return client;
}

/** Empty the Firestore and Auth emulators. */
export async function resetEmulators() {
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
  return { room: room.finally(() => stop()) };
}
