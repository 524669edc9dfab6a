// Guests on the demo page, self-contained: the doctor's and the patient's guest panel (invite, list, remove) and
// the page of a guest who opens an invitation link (anonymous sign-in, redeem_invite, then get_join_token).
// app.js imports it; the link's code lives in the URL's fragment (#invite=...), which no server ever receives.
import { signInAnonymously } from "firebase/auth";
import { collection, onSnapshot } from "firebase/firestore";
import { httpsCallable } from "firebase/functions";

const KINDS = { interpreter: "Interpreter", caregiver: "Caregiver" };
const WAITING = {
  waiting_for_doctor: "Waiting for the doctor to join… you will be let in automatically.",
  waiting_for_admission: "Waiting for the doctor to admit the visit… you will be let in automatically.",
};
// A guest cannot listen to the appointment (the rules keep it from them): they ask again, this often, this long.
const POLL_MS = 2000;
const POLL_TRIES = 300;

const $ = (id) => document.getElementById(id);

/** The invitation code in this page's address, removed from it (and from the history) at once. */
function takeInviteCode() {
  const found = new URLSearchParams(location.hash.slice(1)).get("invite");
  if (found) history.replaceState(null, "", location.pathname + location.search);
  return found;
}

/** The link to hand the guest: the backend's (VIDEO_JOIN_PAGE_URL), else this page with the code. */
function linkFor(answer) {
  return answer.inviteUrl ?? `${location.origin}${location.pathname}#invite=${answer.inviteCode}`;
}

/** The doctor's and the patient's panel for one visit's guests: a live list, removal, and (doctor) invitation. */
export function guestPanel({ db, functions, notice }) {
  const inviteGuest = httpsCallable(functions, "invite_guest");
  const removeGuest = httpsCallable(functions, "remove_guest");
  let open = null;

  $("invite-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!open) return;
    try {
      const answer = (await inviteGuest({
        appointmentId: open.id, kind: $("guest-kind").value, name: $("guest-name").value,
      })).data;
      $("invite-link").value = linkFor(answer);
      $("invite-link-row").hidden = false;
      $("guest-name").value = "";
      notice("");
    } catch (error) {
      const reason = error.details?.reason;
      notice(reason === "guest_limit"
        ? `This visit has its guests already (at most ${error.details.maxGuests}).`
        : `Inviting failed (${error.code}).`);
    }
  });
  $("guests-close").addEventListener("click", () => close());

  function render(snapshot) {
    const list = $("guest-list");
    list.replaceChildren();
    for (const snap of snapshot.docs) {
      const guest = snap.data();
      const item = document.createElement("li");
      item.dataset.guestId = snap.id;
      const status = document.createElement("span");
      status.dataset.role = "guest-status";
      status.textContent = guest.status;
      item.append(`${guest.name} (${KINDS[guest.kind] ?? guest.kind}): `, status);
      if (guest.status === "invited" || guest.status === "redeemed") {
        const remove = document.createElement("button");
        remove.type = "button";
        remove.textContent = "Remove";
        remove.addEventListener("click", () => removeGuest({ appointmentId: open.id, guestId: snap.id })
          .catch((error) => notice(`Removing failed (${error.code}).`)));
        item.append(" ", remove);
      }
      list.append(item);
    }
  }

  function close() {
    open?.stop();
    open = null;
    $("guests").hidden = true;
  }

  return {
    /** Show one visit's guests; the doctor also gets the invitation form. */
    open(appointmentId, isDoctor) {
      close();
      $("guests").hidden = false;
      $("guests-title").textContent = `Guests of ${appointmentId}`;
      $("invite-form").hidden = !isDoctor;
      $("invite-link-row").hidden = true;
      $("guest-list").replaceChildren();
      const stop = onSnapshot(collection(db, "appointments", appointmentId, "guests"), render,
        (error) => notice(`Listening to the guests failed (${error.code}).`));
      open = { id: appointmentId, stop };
    },
    close,
  };
}

/**
 * The page of a guest who opened an invitation link: signs in anonymously, redeems the code once, then asks for
 * a token until the waiting room lets them in. Returns whether this page is a guest's (a code in its address).
 */
export function guestVisit({ auth, functions, notice, showMeeting }) {
  const code = takeInviteCode();
  const redeemInvite = httpsCallable(functions, "redeem_invite");
  const getJoinToken = httpsCallable(functions, "get_join_token");
  let visit = null;
  let timer = null;

  async function join(tries = 0) {
    clearTimeout(timer);
    notice("Getting your join token…");
    try {
      const answer = (await getJoinToken({ appointmentId: visit.appointmentId })).data;
      notice("");
      showMeeting(answer);
    } catch (error) {
      const reason = error.details?.reason;
      if ((reason in WAITING || reason === "room_not_ready") && tries < POLL_TRIES) {
        notice(WAITING[reason] ?? "The room is being prepared…");
        timer = setTimeout(() => join(tries + 1), POLL_MS);
      } else if (error.code === "functions/not-found") {
        notice("This invitation is no longer valid.");
      } else if (reason === "too_early") {
        notice(`Too early: the room opens at ${new Date(error.details.opensAt * 1000).toLocaleString()}.`);
      } else {
        notice(`Could not join (${error.code}).`);
      }
    }
  }

  async function redeem() {
    try {
      visit = (await redeemInvite({ inviteCode: code })).data;
    } catch (error) {
      notice(error.code === "functions/not-found" ? "This invitation is no longer valid." : `Opening the invitation failed (${error.code}).`);
      return;
    }
    $("guest").hidden = false;
    $("guest-kind-label").textContent = KINDS[visit.kind] ?? visit.kind;
    join();
  }

  $("guest-join").addEventListener("click", () => visit && join());
  if (code) signInAnonymously(auth).catch((error) => notice(`Signing in failed (${error.code}).`));

  return {
    active: Boolean(code),
    /** Someone is signed in: once it is the anonymous account this page made, open the invitation with it. */
    signedIn(user) {
      if (!code) notice("Open your invitation link again to join.");
      else if (!visit && user.isAnonymous) redeem();
    },
  };
}
