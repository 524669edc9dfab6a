// The kit's React part (clients/web/dist/react): which meeting VisitMeeting renders for each provider and
// state, rendered on the server by react-dom. @jitsi/react-sdk is published for bundlers only (directory
// imports), so the components are bundled for Node first, by the pinned esbuild, outside the tree.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bundle = path.join(root, ".cache", "test-bundles", "visit-meeting.cjs");
let react;

before(async () => {
  await build({
    stdin: {
      contents: `export { createElement } from "react"; export { renderToString } from "react-dom/server";
                 export * from "./clients/web/dist/react/index.js";`,
      resolveDir: root,
    },
    bundle: true, platform: "node", format: "cjs", outfile: bundle, logLevel: "warning",
  });
  react = createRequire(import.meta.url)(bundle);
});

const answer = (fields) => ({
  token: "header.claims.signature", roomName: "room-one", roomUrl: "https://meet.example.test/room-one",
  provider: "jitsi", role: "guest", expiresAt: 2_000_000_000, ...fields,
});
const joined = (join) => ({ kind: "joined", join, refreshAt: 0, visit: null });
const render = (props) => react.renderToString(react.createElement(react.VisitMeeting, props));

test("LiveKit: LiveKitRoom (@livekit/components-react) for the answer's serverUrl", () => {
  const html = render({ state: joined(answer({ provider: "livekit", serverUrl: "wss://lk.example.test" })) });
  assert.match(html, /^<div class="visit-livekit" data-provider="livekit" style="[^"]*"><div data-lk-theme="default" style="[^"]*" class="lk-room-container">/);
});

for (const [provider, roomUrl, domain] of [
  ["jitsi", "https://meet.example.test/room-one", "meet.example.test"],
  ["jaas", "https://8x8.vc/vpaas-magic-cookie-0123/room-one", "8x8.vc"],
]) {
  test(`${provider}: the Jitsi meeting, loading ${domain}'s external API first`, () => {
    const html = render({ state: joined(answer({ provider, roomUrl })) });
    assert.equal(html, `<p class="visit-offline" data-role="meeting-offline">Connecting to <!-- -->${domain}<!-- -->…</p>`);
  });
}

test("the Jitsi room is read off roomUrl: JaaS's AppID prefix is the tenant", () => {
  assert.deepEqual(react.jitsiRoom(answer({ roomUrl: "https://8x8.vc/vpaas-magic-cookie-0123/room-one" })), {
    domain: "8x8.vc", roomName: "vpaas-magic-cookie-0123/room-one", appId: "vpaas-magic-cookie-0123",
  });
  assert.deepEqual(react.jitsiRoom(answer({ roomUrl: "https://meet.example.test:8443/room-one" })), {
    domain: "meet.example.test:8443", roomName: "room-one", appId: undefined,
  });
});

for (const provider of ["twilio", "zoom", "vonage", "enablex"]) {
  test(`${provider}: no component here, so renderOther gets the answer`, () => {
    const seen = [];
    const html = render({
      state: joined(answer({ provider })),
      renderOther: (join) => {
        seen.push(join.provider);
        return react.createElement("b", null, "other");
      },
    });
    assert.equal(html, "<b>other</b>");
    assert.deepEqual(seen, [provider]);
  });
}

test("every state but joined is a status line naming the state, or what renderWaiting gives", () => {
  assert.equal(
    render({ state: { kind: "waiting_for_doctor", visit: null } }),
    '<p role="status" data-visit-state="waiting_for_doctor">Waiting for the doctor to join… you will be let in automatically.</p>',
  );
  const html = render({ state: { kind: "too_late", closesAt: null, visit: null }, renderWaiting: (state) => react.createElement("i", null, state.kind) });
  assert.equal(html, "<i>too_late</i>");
});

test("nothing of the token is in the page", () => {
  for (const provider of ["jitsi", "livekit", "zoom"]) {
    const html = render({ state: joined(answer({ provider, serverUrl: "wss://lk.example.test" })) });
    assert.doesNotMatch(html, /header\.claims\.signature/);
  }
});
