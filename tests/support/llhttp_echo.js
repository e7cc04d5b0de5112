// Node's HTTP/1.1 server (its parser is llhttp, run strict: no insecureHTTPParser) on
// 127.0.0.1:0, for tests/test_front_door_differential.py. Prints "PORT <n>". A request it
// accepts is answered 200 with JSON (method, url, httpVersion, body as latin1) and the
// connection closes; one it refuses gets 400 with the parser's error code in X-Refused.
"use strict";
const http = require("http");

const server = http.createServer({ requireHostHeader: true }, (req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const body = JSON.stringify({
      method: req.method,
      url: req.url,
      httpVersion: req.httpVersion,
      body: Buffer.concat(chunks).toString("latin1"),
    });
    res.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      connection: "close",
    });
    res.end(body);
  });
});

server.on("clientError", (err, socket) => {
  if (socket.writable) {
    socket.end(`HTTP/1.1 400 Bad Request\r\nX-Refused: ${err.code}\r\nconnection: close\r\n\r\n`);
  } else {
    socket.destroy();
  }
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
