// Sign-in, the user's appointments with what each may do, and the open visit (VisitPanel).
import { signInWithEmailAndPassword, signOut, type User } from "firebase/auth";
import { doc, updateDoc } from "firebase/firestore";
import { useCallback, useState, type FormEvent } from "react";
import { failure } from "./failure.js";
import { auth, db, kit, useAppointments, useUser, type Appointment } from "./firebase.js";
import { GuestPage, GuestPanel, takeInviteCode } from "./Guests.js";
import { VisitPanel } from "./VisitPanel.js";

const DEMO = {
  doctor: ["doctor@demo.test", "demo-doctor-1"],
  patient: ["patient@demo.test", "demo-patient-1"],
} as const;

export function App() {
  const user = useUser();
  const [notice, setNotice] = useState("");
  // An invitation link (#invite=<code>): this page is the guest's, whoever is signed in (an anonymous account).
  const [invite] = useState(takeInviteCode);
  if (user === undefined) return null;
  return (
    <>
      {invite !== null || user?.isAnonymous ? (
        <GuestPage code={invite} user={user} onNotice={setNotice} />
      ) : user === null ? (
        <SignIn onNotice={setNotice} />
      ) : (
        <Session user={user} onNotice={setNotice} />
      )}
      <p id="notice" role="status">
        {notice}
      </p>
    </>
  );
}

function SignIn({ onNotice }: { onNotice: (text: string) => void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      await signInWithEmailAndPassword(auth(), email, password);
      onNotice("");
    } catch (error) {
      onNotice(failure("Sign-in", error));
    }
  }
  return (
    <form id="sign-in-form" onSubmit={submit}>
      <label>
        Email <input id="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
      </label>
      <label>
        Password{" "}
        <input id="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
      </label>
      <button id="sign-in" type="submit">
        Sign in
      </button>
      {(Object.keys(DEMO) as (keyof typeof DEMO)[]).map((who) => (
        <button key={who} type="button" onClick={() => ([setEmail, setPassword] as const).forEach((set, i) => set(DEMO[who][i]!))}>
          Fill demo {who}
        </button>
      ))}
    </form>
  );
}

function Session({ user, onNotice }: { user: User; onNotice: (text: string) => void }) {
  const rows = useAppointments(user, onNotice);
  const [open, setOpen] = useState<string | null>(null);
  const [guestsOf, setGuestsOf] = useState<{ id: string; isDoctor: boolean } | null>(null);
  const close = useCallback(() => setOpen(null), []);
  return (
    <>
      <section id="session">
        <p>
          Signed in as <strong id="who">{user.email}</strong>{" "}
          <button id="sign-out" type="button" onClick={() => signOut(auth())}>
            Sign out
          </button>
        </p>
        <table>
          <thead>
            <tr>
              <th>Appointment</th>
              <th>Type</th>
              <th>Status</th>
              <th>Starts</th>
              <th>Your part</th>
              <th></th>
            </tr>
          </thead>
          <tbody id="appointments">
            {rows.map((appointment) => (
              <Row
                key={appointment.id}
                appointment={appointment}
                uid={user.uid}
                onJoin={setOpen}
                onGuests={(id, isDoctor) => setGuestsOf({ id, isDoctor })}
                onNotice={onNotice}
              />
            ))}
          </tbody>
        </table>
      </section>
      {guestsOf !== null && (
        <GuestPanel
          key={guestsOf.id}
          appointmentId={guestsOf.id}
          isDoctor={guestsOf.isDoctor}
          onClose={() => setGuestsOf(null)}
          onNotice={onNotice}
        />
      )}
      {open !== null && <VisitPanel key={open} appointmentId={open} onClose={close} />}
    </>
  );
}

interface RowProps {
  appointment: Appointment;
  uid: string;
  onJoin: (id: string) => void;
  onGuests: (id: string, isDoctor: boolean) => void;
  onNotice: (text: string) => void;
}

function Row({ appointment, uid, onJoin, onGuests, onNotice }: RowProps) {
  const isDoctor = appointment.doctorId === uid;
  const { id, status, video } = appointment;
  const act = (what: string, run: () => Promise<unknown>) => () => run().catch((error: unknown) => onNotice(failure(what, error)));
  const move = (label: string, next: string) => (
    <button key={label} type="button" onClick={act(label, () => updateDoc(doc(db(), "appointments", id), { status: next }))}>
      {label}
    </button>
  );
  const hasRoom = status === "confirmed" && Boolean(video?.roomName);
  const waiting = isDoctor && video?.lobby?.waitingSince && !video.admittedAt && !video.deniedAt;
  const seen = video?.attendance ?? {};
  const attendance = isDoctor ? seen.patientJoinedAt && "Patient joined" : seen.doctorJoinedAt && "Doctor joined";
  return (
    <tr data-id={id}>
      <td>{id}</td>
      <td>{appointment.type}</td>
      <td className={`status-${status}`} data-role="status">
        {status}
      </td>
      <td>{appointment.startTime.toDate().toLocaleString()}</td>
      <td>{isDoctor ? "doctor" : "patient"}</td>
      <td>
        {isDoctor && status === "pending" && move("Confirm", "confirmed")}
        {isDoctor && status === "confirmed" && move("Complete", "completed")}
        {["pending", "confirmed"].includes(status) && move("Cancel", "cancelled")}
        {hasRoom && (
          <button type="button" onClick={() => onJoin(id)}>
            Join
          </button>
        )}
        {hasRoom && waiting && (
          <>
            <span data-role="lobby">Patient waiting </span>
            <button type="button" onClick={act("Admit", () => kit().admitPatient(id, true))}>
              Admit
            </button>
            <button type="button" onClick={act("Deny", () => kit().admitPatient(id, false))}>
              Deny
            </button>
          </>
        )}
        {hasRoom && attendance && <span data-role="attendance">{attendance} </span>}
        {hasRoom && !isDoctor && <ConsentToggle appointmentId={id} stored={video?.recordingConsent?.consent === true} onNotice={onNotice} />}
        {hasRoom && (
          <button type="button" onClick={() => onGuests(id, isDoctor)}>
            Guests
          </button>
        )}
      </td>
    </tr>
  );
}

/** The patient's recording consent: shows the click at once, the stored answer once the server has it. */
function ConsentToggle({ appointmentId, stored, onNotice }: { appointmentId: string; stored: boolean; onNotice: (text: string) => void }) {
  const [asked, setAsked] = useState<boolean | null>(null);
  const shown = asked ?? stored;
  if (asked !== null && asked === stored) setAsked(null);
  return (
    <label>
      <input
        type="checkbox"
        data-role="consent"
        checked={shown}
        onChange={(event) => {
          const consent = event.target.checked;
          setAsked(consent);
          kit()
            .setRecordingConsent(appointmentId, consent)
            .catch((error: unknown) => {
              setAsked(null);
              onNotice(failure("Saving your answer", error));
            });
        }}
      />{" "}
      Allow recording
    </label>
  );
}
