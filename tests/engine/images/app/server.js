// Look-alike of a WebSys application replica (frontend on 3000, backend on 8000): /health,
// /metrics in Prometheus's text format, and a JSON body naming the replica for any other path.
// SIGTERM stops accepting and lets open requests finish, as the real services do.
const http = require("http");
const os = require("os");

const port = Number(process.env.PORT || 3000);
// A replica built to fail its healthcheck (the engine tests' rollback image) has this file.
const unhealthy = require("fs").existsSync("/app/unhealthy");
const counts = new Map();
const server = http.createServer((request, response) => {
  const path = request.url.split("?")[0];
  let status = 200;
  let body;
  let type = "application/json";
  if (path === "/health") {
    status = unhealthy ? 503 : 200;
    body = JSON.stringify({ status: unhealthy ? "failing" : "ok" });
  } else if (path === "/metrics") {
    type = "text/plain; version=0.0.4";
    body = "# TYPE http_requests_total counter\n";
    for (const [key, value] of counts) body += `http_requests_total{status="${key}"} ${value}\n`;
  } else {
    body = JSON.stringify({ host: os.hostname(), path, port });
  }
  counts.set(String(status), (counts.get(String(status)) || 0) + 1);
  // X-Served-By: the replica, as the reference app names it (app/backend, app/frontend).
  response.writeHead(status, {
    "Content-Type": type,
    "Content-Length": Buffer.byteLength(body),
    "X-Served-By": os.hostname(),
  });
  response.end(body);
});
server.keepAliveTimeout = 5000;
server.listen(port, "0.0.0.0");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
