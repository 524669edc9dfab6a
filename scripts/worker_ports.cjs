// Preloaded into the Firebase CLI (NODE_OPTIONS=--require, scripts/with_emulators.py) to give each emulator
// suite a window of ports of its own for the Python functions' processes.
//
// firebase-tools (15.x, lib/emulator/functionsEmulator.js startPython) starts each Python function worker on
// portfinder's first free port from 8081 + a random 0..1000, and the Python runtime's discovery serves main.py
// on the first free port from 8081. The port is free when it is picked and bound a second or more later,
// when the worker has imported main.py. With three suites on one machine (make test) two workers picked the
// same port: the second could not bind ("Connection in use: ('127.0.0.1', 8915)"), and its suite's calls to
// that function were answered by the other suite's worker. Here every pick in 8081..9080 is moved into
// TELEHEALTH_WORKER_PORT_BASE .. +999 (the same offset within the window), so suites never meet.
"use strict";

const LOW = 8081;
const WIDTH = 1000;
const base = Number.parseInt(process.env.TELEHEALTH_WORKER_PORT_BASE ?? "", 10);

// firebase-tools' randomInt(0, 1000) includes 1000: its picks start anywhere in 8081..9081 (1,001 ports),
// folded here into the window's 1,000 (9081 starts at the window's first port, as 8081 does).
function moved(options) {
  if (!options || !Number.isInteger(options.port) || options.port < LOW || options.port > LOW + WIDTH) {
    return options;
  }
  return { ...options, port: base + ((options.port - LOW) % WIDTH), stopPort: base + WIDTH - 1 };
}

if (Number.isInteger(base) && base > 0) {
  let portfinder = null;
  try {
    // The copy the CLI itself loads (the project's node_modules; the CLI runs from the project's root).
    portfinder = require(require.resolve("portfinder", { paths: [process.cwd()] }));
  } catch {
    // A node process the CLI starts that has no portfinder (none today): nothing to move.
  }
  if (portfinder) {
    const original = portfinder.getPort;
    portfinder.getPort = function getPort(options, callback) {
      return typeof options === "function" ? original.call(this, options) : original.call(this, moved(options), callback);
    };
    portfinder.getPortPromise = portfinder.getPort;
  }
}

module.exports = { moved, LOW, WIDTH };
