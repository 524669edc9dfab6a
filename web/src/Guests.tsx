// Guests (an interpreter or a caregiver): the doctor invites from the visit's guest panel, the doctor and the
// patient see and remove guests there, and a guest's own page (the link's #invite=<code>) signs in
// anonymously, redeems the code and joins on the kit. A guest may not read the appointment, so their kit
// runs on the callable's answers alone (call-only, polling no faster than its budget).
import { signInAnonymously, type User } from "firebase/auth";
import { collection, onSnapshot } from "firebase/firestore";
import { describeVisit, KitError, type GuestKind, type InviteGuestAnswer, type RedeemInviteAnswer, type VisitState } from "@telehealth/web-kit";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { failure } from "./failure.js";
import { auth, db, kit } from "./firebase.js";
import { VisitPanel } from "./VisitPanel.js";

const KINDS: Record<string, string> = { interpreter: "Interpreter", caregiver: "Caregiver" };
// A guest's kit cannot listen for the field it waits for: it asks again this often (the kit's own budget,
// 10 calls a minute, bounds it too).
const GUEST_POLL_MS = 5000;

interface GuestRow {
  id: string;
  name: string;
  kind: string;
  status: string;
}

/** The invitation code in this page's address, taken out of it (and the history) at once: the link's
 * fragment never reaches a server, and the code should not stay in the address bar either. */
export function takeInviteCode(): string | null {
  const code = new URLSearchParams(window.location.hash.slice(1)).get("invite");
  if (code) window.history.replaceState(null, "", window.location.pathname + window.location.search);
  return code;
}

/** The link to hand the guest: the backend's (VIDEO_JOIN_PAGE_URL), else this page with the code. */
function linkFor(answer: InviteGuestAnswer): string {
  return answer.inviteUrl ?? `${window.location.origin}${window.location.pathname}#invite=${answer.inviteCode}`;
}

/** One visit's guests, live; removal; and for the doctor, the invitation form. */
export function GuestPanel(props: { appointmentId: string; isDoctor: boolean; onClose: () => void; onNotice: (text: string) => void }) {
  const { appointmentId, isDoctor, onClose, onNotice } = props;
  const [guests, setGuests] = useState<GuestRow[]>([]);
  const [kind, setKind] = useState<GuestKind>("interpreter");
  const [name, setName] = useState("");
  const [link, setLink] = useState<string | null>(null);
  useEffect(
    () =>
      onSnapshot(
        collection(db(), "appointments", appointmentId, "guests"),
        (snapshot) => setGuests(snapshot.docs.map((snap) => ({ id: snap.id, ...snap.data() }) as GuestRow)),
        (error) => onNotice(`Listening to the guests failed (${error.code}).`),
      ),
    [appointmentId, onNotice],
  );
  async function invite(event: FormEvent) {
    event.preventDefault();
    try {
      setLink(linkFor(await kit().inviteGuest(appointmentId, kind, name)));
      setName("");
      onNotice("");
    } catch (error) {
      const limit = error instanceof KitError && error.refusal.code === "failed-precondition" && error.refusal.reason === "guest_limit";
      onNotice(limit ? `This visit has its guests already (at most ${error.refusal.maxGuests}).` : failure("Inviting", error));
    }
  }
  return (
    <section id="guests">
      <h2 id="guests-title">Guests of {appointmentId}</h2>
      <ul id="guest-list" className="guests">
        {guests.map((guest) => (
          <li key={guest.id} data-guest-id={guest.id}>
            {guest.name} ({KINDS[guest.kind] ?? guest.kind}): <span data-role="guest-status">{guest.status}</span>
            {(guest.status === "invited" || guest.status === "redeemed") && (
              <>
                {" "}
                <button
                  type="button"
                  onClick={() => kit().removeGuest(appointmentId, guest.id).catch((error: unknown) => onNotice(failure("Removing", error)))}
                >
                  Remove
                </button>
              </>
            )}
          </li>
        ))}
      </ul>
      {isDoctor && (
        <form id="invite-form" onSubmit={invite}>
          <label>
            Invite{" "}
            <select id="guest-kind" value={kind} onChange={(event) => setKind(event.target.value as GuestKind)}>
              <option value="interpreter">an interpreter</option>
              <option value="caregiver">a caregiver</option>
            </select>
          </label>
          <label>
            Name <input id="guest-name" required maxLength={60} value={name} onChange={(event) => setName(event.target.value)} />
          </label>
          <button id="invite" type="submit">
            Invite
          </button>
        </form>
      )}
      {link !== null && (
        <p id="invite-link-row">
          Send this link to the guest: <input id="invite-link" className="invite" readOnly size={70} value={link} />
        </p>
      )}
      <button id="guests-close" type="button" onClick={onClose}>
        Close
      </button>
    </section>
  );
}

/** What a guest's page says: a refusal of the join is about the invitation, not the appointment. */
function describeForGuest(state: VisitState): string {
  return state.kind === "not_found" ? "This invitation is no longer valid." : describeVisit(state);
}

/** The page of a guest who opened an invitation link (`code`, taken from the address when the page opened). */
export function GuestPage({ code, user, onNotice }: { code: string | null; user: User | null; onNotice: (text: string) => void }) {
  const [visit, setVisit] = useState<RedeemInviteAnswer | null>(null);
  const [attempt, setAttempt] = useState(0);
  const redeeming = useRef(false);
  // The link's page signs in anonymously whoever was signed in (a guest needs no account of their own), and
  // redeems the code with that anonymous account only.
  useEffect(() => {
    if (code !== null && !user?.isAnonymous) signInAnonymously(auth()).catch((error: unknown) => onNotice(failure("Signing in", error)));
  }, [user, code, onNotice]);
  useEffect(() => {
    if (!user?.isAnonymous || code === null || redeeming.current) return;
    redeeming.current = true;
    kit()
      .redeemInvite(code)
      .then(setVisit, (error: unknown) =>
        onNotice(error instanceof KitError && error.code === "not-found" ? "This invitation is no longer valid." : failure("Opening the invitation", error)),
      );
  }, [user, code, onNotice]);
  if (code === null) return <p id="guest">Open your invitation link again to join.</p>;
  if (visit === null) return null;
  return (
    <>
      <section id="guest">
        <p>
          You are invited to a video consultation as <strong id="guest-kind-label">{KINDS[visit.kind] ?? visit.kind}</strong>.{" "}
          <button id="guest-join" type="button" onClick={() => setAttempt((n) => n + 1)}>
            Join again
          </button>
        </p>
      </section>
      <VisitPanel key={attempt} appointmentId={visit.appointmentId} options={{ pollMs: GUEST_POLL_MS }} describe={describeForGuest} />
    </>
  );
}
