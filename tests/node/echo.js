// A plain WebSocket echo endpoint on Node.js with the `ws` package, for the rfc6455 suite.
// Usage: node tests/node/echo.js --port N   (listens on 127.0.0.1 only)
'use strict';

const { WebSocketServer } = require('ws');

const i = process.argv.indexOf('--port');
const port = i >= 0 ? Number(process.argv[i + 1]) : 9001;
// ws's defaults, but a 16 MiB limit as the other servers' (its own default is 100 MiB).
const server = new WebSocketServer({ host: '127.0.0.1', port, maxPayload: 16 * 1024 * 1024 });
server.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  socket.on('error', () => {});
});
