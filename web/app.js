// Demo client: the same SDK calls a clinic's web app makes. Bundled by esbuild (scripts/setup) into .cache/web.
import { initializeApp } from "firebase/app";
import { getAuth, connectAuthEmulator, signInWithEmailAndPassword, signOut, onAuthStateChanged } from "firebase/auth";
import {
  getFirestore, connectFirestoreEmulator, collection, query, where, onSnapshot, doc, updateDoc,
} from "firebase/firestore";
import { getFunctions, connectFunctionsEmulator, httpsCallable } from "firebase/functions";
import { guestPanel, guestVisit } from "./guests.js";

const DEMO = {
  doctor: ["doctor@demo.test", "demo-doctor-1"],
  patient: ["patient@demo.test", "demo-patient-1"],
};
const REASONS = {
  not_video: "This is not a video appointment.",
  not_confirmed: "The doctor has not confirmed this appointment.",
  room_not_ready: "The room is being prepared…",
  too_early: "Too early: the room opens at",
  too_late: "This consultation's join window has closed.",
  waiting_for_doctor: "Waiting for the doctor to join… you will be let in automatically.",
  waiting_for_admission: "You are in the waiting room. The doctor will let you in shortly…",
  admission_denied: "The doctor did not admit you to this consultation.",
};
// Refusals that end when a field appears in the appointment's video map: join again then.
const WAITING_UNTIL = { waiting_for_doctor: "doctorJoinedAt", waiting_for_admission: "admittedAt" };
const JITSI_SCRIPT_TIMEOUT_MS = 5000;

const config = await (await fetch("/config.json")).json();
const app = initializeApp({ apiKey: "demo-key", projectId: config.projectId, authDomain: "localhost" });
const auth = getAuth(app);
connectAuthEmulator(auth, `http://${config.auth}`, { disableWarnings: true });
const db = getFirestore(app);
const [fsHost, fsPort] = config.firestore.split(":");
connectFirestoreEmulator(db, fsHost, Number(fsPort));
const functions = getFunctions(app, "us-central1");
const [fnHost, fnPort] = config.functions.split(":");
connectFunctionsEmulator(functions, fnHost, Number(fnPort));
const getJoinToken = httpsCallable(functions, "get_join_token");
const admitPatient = httpsCallable(functions, "admit_patient");
const setRecordingConsent = httpsCallable(functions, "set_recording_consent");
// The appointment this page waits on (waiting room), and the video field that lets it in.
let waiting = null;

const $ = (id) => document.getElementById(id);
const notice = (text) => { $("notice").textContent = text; };
const rows = new Map();
let unsubscribers = [];

document.querySelectorAll("[data-demo]").forEach((button) => {
  button.addEventListener("click", () => {
    [$("email").value, $("password").value] = DEMO[button.dataset.demo];
  });
});

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await signInWithEmailAndPassword(auth, $("email").value, $("password").value);
    notice("");
  } catch (error) {
    notice(`Sign-in failed (${error.code}).`);
  }
});
$("sign-out").addEventListener("click", () => signOut(auth));

// Guests (web/guests.js): the doctor's and the patient's panel, and the page of a guest who opened a link.
const guests = guestPanel({ db, functions, notice });
const invited = guestVisit({ auth, functions, notice, showMeeting });

onAuthStateChanged(auth, (user) => {
  unsubscribers.forEach((stop) => stop());
  unsubscribers = [];
  rows.clear();
  render();
  guests.close();
  // A guest's page (an invitation link, an anonymous account) shows only the guest's part.
  const guestPage = invited.active || Boolean(user?.isAnonymous);
  $("sign-in-form").hidden = Boolean(user) || guestPage;
  $("session").hidden = !user || guestPage;
  $("meeting").hidden = true;
  if (guestPage) {
    if (user) invited.signedIn(user);
    return;
  }
  if (!user) return;
  $("who").textContent = user.email;
  // Two filtered listeners: the rules allow a list only when it is filtered on the caller's own id.
  for (const field of ["patientId", "doctorId"]) {
    const own = query(collection(db, "appointments"), where(field, "==", user.uid));
    unsubscribers.push(onSnapshot(own, (snapshot) => {
      snapshot.docChanges().forEach((change) => {
        if (change.type === "removed") rows.delete(change.doc.id);
        else rows.set(change.doc.id, { id: change.doc.id, ...change.doc.data() });
      });
      render();
      // The doctor joined, or admitted us: the listener sees it, and the page joins on its own.
      const awaited = waiting && rows.get(waiting.id)?.video?.[waiting.field];
      if (awaited) {
        const id = waiting.id;
        waiting = null;
        join(id);
      }
    }, (error) => notice(`Listening failed (${error.code}).`)));
  }
});

function actionsFor(appointment, uid) {
  const isDoctor = appointment.doctorId === uid;
  const actions = [];
  if (isDoctor && appointment.status === "pending") actions.push(["Confirm", "confirmed"]);
  if (isDoctor && appointment.status === "confirmed") actions.push(["Complete", "completed"]);
  if (["pending", "confirmed"].includes(appointment.status)) actions.push(["Cancel", "cancelled"]);
  return actions;
}

function render() {
  const uid = auth.currentUser?.uid;
  const body = $("appointments");
  body.replaceChildren();
  const sorted = [...rows.values()].sort((a, b) => a.startTime.toMillis() - b.startTime.toMillis());
  for (const appointment of sorted) {
    const tr = document.createElement("tr");
    tr.dataset.id = appointment.id;
    const cells = [
      appointment.id,
      appointment.type,
      appointment.status,
      appointment.startTime.toDate().toLocaleString(),
      appointment.doctorId === uid ? "doctor" : "patient",
    ];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    tr.children[2].className = `status-${appointment.status}`;
    tr.children[2].dataset.role = "status";
    const buttons = document.createElement("td");
    for (const [label, status] of actionsFor(appointment, uid)) {
      buttons.append(button(label, () => updateDoc(doc(db, "appointments", appointment.id), { status })
        .catch((error) => notice(`${label} failed (${error.code}).`))));
    }
    if (appointment.status === "confirmed" && appointment.video?.roomName) {
      buttons.append(button("Join", () => join(appointment.id)));
      const video = appointment.video;
      const isDoctor = appointment.doctorId === uid;
      buttons.append(button("Guests", () => guests.open(appointment.id, isDoctor)));
      if (isDoctor && video.lobby?.waitingSince && !video.admittedAt && !video.deniedAt) {
        const note = document.createElement("span");
        note.dataset.role = "lobby";
        note.textContent = "Patient waiting ";
        buttons.append(note);
        buttons.append(button("Admit", () => admitPatient({ appointmentId: appointment.id, admit: true })
          .catch((error) => notice(`Admit failed (${error.code}).`))));
        buttons.append(button("Deny", () => admitPatient({ appointmentId: appointment.id, admit: false })
          .catch((error) => notice(`Deny failed (${error.code}).`))));
      }
      const seen = video.attendance ?? {};
      if (seen.patientJoinedAt || seen.doctorJoinedAt) {
        const note = document.createElement("span");
        note.dataset.role = "attendance";
        const who = isDoctor ? seen.patientJoinedAt && "Patient joined" : seen.doctorJoinedAt && "Doctor joined";
        note.textContent = who ? `${who} ` : "";
        buttons.append(note);
      }
      if (!isDoctor) {
        const label = document.createElement("label");
        const box = document.createElement("input");
        box.type = "checkbox";
        box.dataset.role = "consent";
        box.checked = video.recordingConsent?.consent === true;
        box.addEventListener("change", () => setRecordingConsent({ appointmentId: appointment.id, consent: box.checked })
          .catch((error) => notice(`Saving your answer failed (${error.code}).`)));
        label.append(box, " Allow recording");
        buttons.append(label);
      }
    }
    tr.append(buttons);
    body.append(tr);
  }
}

function button(label, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = label;
  element.addEventListener("click", onClick);
  return element;
}

async function join(appointmentId, attempt = 0) {
  notice("Getting your join token…");
  let answer;
  try {
    answer = (await getJoinToken({ appointmentId })).data;
  } catch (error) {
    const reason = error.details?.reason;
    if (reason === "room_not_ready" && attempt < 5) {
      notice(REASONS.room_not_ready);
      setTimeout(() => join(appointmentId, attempt + 1), 1000);
      return;
    }
    if (reason in WAITING_UNTIL) {
      waiting = { id: appointmentId, field: WAITING_UNTIL[reason] };
      notice(REASONS[reason]);
      return;
    }
    if (reason === "too_early") notice(`${REASONS.too_early} ${new Date(error.details.opensAt * 1000).toLocaleString()}.`);
    else notice(REASONS[reason] ?? `Could not join (${error.code}).`);
    return;
  }
  notice("");
  showMeeting(answer);
}

function loadScript(url, timeoutMs) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    const timer = setTimeout(() => { script.remove(); reject(new Error("timeout")); }, timeoutMs);
    script.src = url;
    script.onload = () => { clearTimeout(timer); resolve(); };
    script.onerror = () => { clearTimeout(timer); script.remove(); reject(new Error("unreachable")); };
    document.head.append(script);
  });
}

async function showMeeting(answer) {
  $("meeting").hidden = false;
  $("meeting-room").textContent = answer.roomName;
  $("meeting-role").textContent = answer.role;
  $("meeting-expires").textContent = new Date(answer.expiresAt * 1000).toLocaleString();
  $("meeting-offline").hidden = true;
  $("jitsi").hidden = true;
  $("jitsi").replaceChildren();
  const url = new URL(answer.roomUrl);
  // LiveKit (and OpenVidu 3), Twilio and Zoom connect through their own client SDKs to their own
  // servers, none of which this offline demo can reach: say what a real app does with the answer.
  const sdkOnly = {
    livekit: `LiveKit / OpenVidu: room.connect("${answer.serverUrl}", token) with the LiveKit client SDK.`,
    twilio: `Twilio Video: Video.connect(token, { name: "${answer.roomName}" }) with twilio-video.`,
    zoom: `Zoom Video SDK: client.join("${answer.roomName}", token, userName) with @zoom/videosdk.`,
  };
  if (answer.provider in sdkOnly) {
    offline(`${sdkOnly[answer.provider]} Its servers cannot be reached from this machine. Your token for room `
      + `${answer.roomName} is valid until ${new Date(answer.expiresAt * 1000).toLocaleTimeString()}.`);
    return;
  }
  $("meeting-offline").hidden = false;
  $("meeting-offline").textContent = `Connecting to ${url.host}…`;
  try {
    await loadScript(`https://${url.host}/external_api.js`, JITSI_SCRIPT_TIMEOUT_MS);
  } catch {
    offline(`The video service at ${url.host} cannot be reached from this machine, so the meeting cannot open `
      + `here. Your token for room ${answer.roomName} is valid until `
      + `${new Date(answer.expiresAt * 1000).toLocaleTimeString()}.`);
    return;
  }
  $("meeting-offline").hidden = true;
  $("jitsi").hidden = false;
  // JaaS rooms are "<AppID>/<room>" on 8x8.vc; self-hosted Jitsi rooms are the bare name.
  new window.JitsiMeetExternalAPI(url.host, {
    roomName: url.pathname.slice(1), jwt: answer.token, parentNode: $("jitsi"), width: "100%", height: "100%",
  });
}

function offline(text) {
  $("meeting-offline").hidden = false;
  $("meeting-offline").textContent = text;
}
