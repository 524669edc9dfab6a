// storage.rules as clients meet them: @firebase/rules-unit-testing contexts (the visit's doctor with the claim,
// its patient, a stranger, signed out) against the Storage emulator, with an object seeded as admin. No client
// reads, lists, writes, overwrites or deletes anything under recordings/ (nor anywhere else); every refused
// request leaves the object as it was. The backend hands recordings out only as signed URLs (get_recording_url).
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { initializeTestEnvironment, assertFails, assertSucceeds } from "@firebase/rules-unit-testing";
import { projectId } from "./emulators.mjs";

const rulesFile = fileURLToPath(new URL("../../storage.rules", import.meta.url));
const RECORDING = "recordings/visit-1/rec-1";
const CONTENT = new TextEncoder().encode("not really an mp4");
const PEOPLE = {
  doctor: () => env.authenticatedContext("doctor-uid", { role: "doctor" }),
  patient: () => env.authenticatedContext("patient-uid", {}),
  stranger: () => env.authenticatedContext("stranger-uid", {}),
  "signed out": () => env.unauthenticatedContext(),
};
// Each takes a storage ref of the actor's and returns the promise of one client request.
const OPERATIONS = {
  "download URL": (ref) => ref.getDownloadURL(),
  "metadata": (ref) => ref.getMetadata(),
  "list the folder": (ref) => ref.parent.listAll(),
  "overwrite": (ref) => ref.put(new TextEncoder().encode("replaced"), { contentType: "video/mp4" }),
  "metadata change": (ref) => ref.updateMetadata({ contentType: "text/plain" }),
  "delete": (ref) => ref.delete(),
  "upload beside it": (ref) => ref.parent.child("planted").put(CONTENT),
};

let env;

function hostPort() {
  const [host, port] = (process.env.FIREBASE_STORAGE_EMULATOR_HOST ?? "127.0.0.1:9199").split(":");
  return { host, port: Number(port) };
}

async function stored() {
  let found;
  await env.withSecurityRulesDisabled(async (admin) => {
    const ref = admin.storage().ref(RECORDING);
    const metadata = await ref.getMetadata();
    const names = (await ref.parent.listAll()).items.map((item) => item.fullPath);
    found = { md5: metadata.md5Hash, contentType: metadata.contentType, names };
  });
  return found;
}

describe("storage.rules: no client access to recordings", () => {
  before(async () => {
    env = await initializeTestEnvironment({
      projectId,
      storage: { rules: readFileSync(rulesFile, "utf8"), ...hostPort() },
    });
    await env.clearStorage();
    await env.withSecurityRulesDisabled(async (admin) => {
      await assertSucceeds(admin.storage().ref(RECORDING).put(CONTENT, { contentType: "video/mp4" }));
      await assertSucceeds(admin.storage().ref("elsewhere/file").put(CONTENT));
    });
  });

  after(async () => {
    await env?.clearStorage();
    await env?.cleanup();
  });

  for (const [who, context] of Object.entries(PEOPLE)) {
    for (const [what, operation] of Object.entries(OPERATIONS)) {
      test(`${who}: ${what} is refused and changes nothing`, async () => {
        const before = await stored();
        await assertFails(operation(context().storage().ref(RECORDING)));
        assert.deepEqual(await stored(), before);
      });
    }
  }

  test("nothing outside recordings/ is open either", async () => {
    await assertFails(PEOPLE.doctor().storage().ref("elsewhere/file").getDownloadURL());
    await assertFails(PEOPLE.patient().storage().ref("elsewhere/new").put(CONTENT));
  });

  test("the seeded object is there (so each refusal was a refusal, not a missing file)", async () => {
    const found = await stored();
    assert.equal(found.contentType, "video/mp4");
    assert.deepEqual(found.names, [RECORDING]);
  });
});
