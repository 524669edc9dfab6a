// Preloaded into the Firebase CLI beside worker_ports.cjs (NODE_OPTIONS=--require, scripts/with_emulators.py):
// a new connection for every request the Functions emulator proxies to a Python function's process.
//
// The emulator proxies with http.request on Node's global agent, which (Node 19 and later) keeps a connection
// open after its answer and reuses it for the next request, for up to 5 s. The Python process is gunicorn
// (functions-framework), which closes a connection that has been idle for 2 s (its keep-alive default). When
// the CLI's event loop is busy (it is, with three suites on two cores), it can send a request on a
// connection whose close it has not read yet. gunicorn then resets the connection, and the emulator answers
// 500 {"code":"ECONNRESET"} ("Request to function failed: Error: socket hang up") and kills the process. It
// happened once in make test, in the matrix: a join sent 2.0 s after that process's last answer. On
// loopback a new connection costs well under a millisecond.
"use strict";

const http = require("node:http");

http.globalAgent = new http.Agent({ keepAlive: false });

module.exports = { agent: http.globalAgent };
