// The keys of the `server` section: listen addresses, timeouts, connection limits, shutdown.
#include "core/config_schema_sections.h"

namespace lipsync::schema {

std::vector<ConfigKey> server_keys() {
  return {
      address("server.host", TOP(server.listen_host),
              "Address both servers listen on, unless `server.port` or `server.http_port` name "
              "their own host. `127.0.0.1`: this machine only.",
              "127.0.0.1"),
      listen("server.port", TOP(server.grpc_host), TOP(server.grpc_port),
             "gRPC port (compat and `lipsync.v1` APIs), optionally with the host to listen on "
             "(`HOST:PORT`, `[IPV6]:PORT`; the older server's `:PORT` works). 0: any free port, "
             "logged at start. `lipsync serve --port` overrides the port.",
             "\"127.0.0.1:50053\""),
      boolean("server.http_enabled", TOP(server.http_enabled),
              "Serve HTTP: the web page (`/`), `/ws/render`, `/health/live`, `/health/ready` and "
              "`/metrics`. `lipsync serve --no-http` turns it off; `--http-port` turns it on.",
              "false"),
      listen("server.http_port", TOP(server.http_host), TOP(server.http_port),
             "HTTP port, optionally with the host to listen on, as `server.port`. 0: any free "
             "port, logged at start. `lipsync serve --http-port` overrides the port.",
             "\"127.0.0.1:8080\""),
      integer("server.max_message_size_mb", TOP(server.max_message_size_mb), 64, 4096,
              "Largest gRPC message either way, in MiB. A compat batch of 25 frames with visual "
              "frames is about 61.5 MB, hence at least 64.",
              "128"),
      integer("server.http_request_timeout_ms", TOP(server.http_request_timeout_ms), 100, 3600000,
              "An HTTP request (and a keep-alive connection's next one) must arrive whole within "
              "this many ms, or the connection is closed (slow clients cannot hold it).",
              "10000"),
      integer("server.ws_first_message_timeout_ms", TOP(server.ws_first_message_timeout_ms), 100,
              3600000,
              "A `/ws/render` client must send its job within this many ms of the upgrade, or "
              "it is closed (policy violation), so idle sockets cannot fill the slots.",
              "5000"),
      integer("server.ws_idle_timeout_ms", TOP(server.ws_idle_timeout_ms), 100, 86400000,
              "A WebSocket with no message either way for this many ms is closed.", "120000"),
      integer("server.max_websocket_connections", TOP(server.max_websocket_connections), 1, 100000,
              "`/ws/render` connections open at once; one more is answered 503.", "64"),
      integer("server.max_connections_per_client", TOP(server.max_connections_per_client), 0,
              100000,
              "HTTP and WebSocket connections open at once from one remote address; one more is "
              "answered 429. 0: no limit (e.g. behind a proxy that is the only address).",
              "0"),
      integer("server.shutdown_drain_ms", TOP(server.shutdown_drain_ms), 0, 600000,
              "On SIGTERM/SIGINT `/health/ready` answers 503 and calls are still served for "
              "this many ms before the server stops accepting them: the time a proxy's health "
              "checks need to stop sending here (HAProxy of `deploy/`: 2 s; "
              "docs/deployment.md). 0: stop accepting at once (one machine, or Kubernetes, "
              "whose `preStop` hook waits instead).",
              "3000"),
      integer("server.shutdown_grace_ms", TOP(server.shutdown_grace_ms), 0, 600000,
              "On SIGTERM/SIGINT `/health/ready` answers 503 at once; calls in flight get this "
              "many ms to finish (and their answers up to 500 ms of it to be read before the "
              "connections close), then are cancelled and WebSocket clients get a close frame "
              "with the reason.",
              "10000"),
  };
}

}  // namespace lipsync::schema
