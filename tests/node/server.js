// The chat protocol of docs/protocol.md on Node.js with the `ws` package.
// Usage: node tests/node/server.js --port N   (listens on 127.0.0.1 only)
'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');

const PREFIX = '接收到的消息是:';
const FAREWELLS = ['请注意:窗口即将关闭', '窗口已关闭'];
const CANONICAL = /^(0|-?[1-9][0-9]*)$/;

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

// The cookie header's pairs, values as sent (no percent-decoding, a value in double quotes
// unquoted); the last of a repeated name wins, as in Starlette.
function cookies(header) {
  const found = new Map();
  for (const part of (header || '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1);
    }
    found.set(part.slice(0, eq).trim(), value);
  }
  return found;
}

// A query parameter, percent-decoded; the last of a repeated key wins (as in Starlette).
function param(params, name) {
  const all = params.getAll(name);
  return all.length ? all[all.length - 1] : undefined;
}

// Python's `int()` of a canonical decimal, rendered back: BigInt keeps any length exact.
function parseQ(raw) {
  return CANONICAL.test(raw) ? BigInt(raw).toString() : null;
}

function echo(ws) {
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      ws.close(1003);
      return;
    }
    const text = data.toString('utf8');
    if (text === 'bye') {
      for (const farewell of FAREWELLS) ws.send(farewell);
      ws.close(1000);
      return;
    }
    ws.send(PREFIX + text);
  });
}

function item(ws, url, cookieHeader) {
  const params = url.searchParams;
  const session = cookies(cookieHeader).get('session');
  const token = param(params, 'token');
  const rawQ = param(params, 'q');
  const q = rawQ === undefined ? 'None' : parseQ(rawQ);
  if ((session === undefined && token === undefined) || q === null) {
    ws.close(1008); // accepted, then closed: the code reaches every client
    return;
  }
  // Python's `session or token`: an empty cookie falls through; an absent token is None.
  const credential = session ? session : token === undefined ? 'None' : token;
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      ws.close(1003);
      return;
    }
    const text = data.toString('utf8');
    ws.send(`Session cookie or query token value is: ${credential}`);
    if (rawQ !== undefined) ws.send(`parameter q is: ${q}`);
    ws.send(`Message text was: ${text}, for : ${q}`);
  });
}

const server = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found');
});
// No size limit below the protocol's 64 KiB; no automatic pings (nothing unsolicited).
const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname !== '/ws' && url.pathname !== '/item/ws') {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('error', () => {}); // a client that goes away ends its conversation quietly
    if (url.pathname === '/ws') echo(ws);
    else item(ws, url, req.headers.cookie);
  });
});

const port = Number(option('--port', '8000'));
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening on 127.0.0.1:${port}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    for (const ws of wss.clients) ws.terminate();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
