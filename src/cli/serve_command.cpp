// `lipsync serve --config FILE [--port N]`: the lip-sync server (compat gRPC service) until
// SIGINT or SIGTERM, then a clean stop (in-flight calls finish, queued batches drain).
#include <signal.h>

#include <cstring>
#include <memory>

#include "cli/commands.h"
#include "core/config.h"
#include "core/log.h"
#include "server/server.h"

namespace lipsync::cli {
namespace {

struct ServeOptions {
  std::string config;
  int port = -1;       // -1: server.port of the config
  int http_port = -1;  // -1: server.http_port of the config
  bool no_http = false;
  bool preload = true;
  std::string forward_to;  // cluster proxy for compat calls (docs/deployment.md)
};

Status serve(const ServeOptions& o) {
  ASSIGN_OR_RETURN(Config config, load_config(o.config));
  for (const auto& warning : config.warnings) LOG_WARN("serve", "{}", warning);
  // Every thread the server starts inherits the blocked set; this thread takes the signals.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  server::ServerOptions options;
  if (o.port >= 0) options.grpc_port = o.port;
  if (o.http_port >= 0) options.http_port = o.http_port;
  if (o.no_http) config.server.http_enabled = false;
  options.preload = o.preload;
  options.forward_to = o.forward_to;
  ASSIGN_OR_RETURN(auto server, server::Server::start(config, options));
  LOG_INFO("serve",
           "serving {} model(s) from '{}' on gRPC port {} (HTTP port {}); SIGINT/SIGTERM stops",
           config.models.size(), o.config, server->grpc_port(), server->http_port());
  int signal = 0;
  sigwait(&signals, &signal);
  LOG_INFO("serve", "{} received: stopping", strsignal(signal));
  server->shutdown();
  server.reset();
  LOG_INFO("serve", "stopped");
  return {};
}

void add(CLI::App& app, Action* action) {
  auto o = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand("serve", "Run the lip-sync gRPC server");
  cmd->add_option("--config", o->config, "server YAML (examples/server.yaml)")->required();
  cmd->add_option("--port", o->port, "gRPC port (overrides server.port; 0 = any free port)")
      ->check(CLI::Range(0, 65535));
  auto* http_port = cmd->add_option("--http-port", o->http_port,
                                    "HTTP port: web page, health and metrics (overrides "
                                    "server.http_port and turns HTTP on; 0 = any free port)")
                        ->check(CLI::Range(0, 65535));
  cmd->add_flag("--no-http", o->no_http, "no HTTP server (as server.http_enabled: false)")
      ->excludes(http_port);
  cmd->add_flag("!--no-preload", o->preload, "do not load preload_model models at start");
  cmd->add_option("--forward-to", o->forward_to,
                  "in a cluster: the proxy's gRPC HOST:PORT; compat calls for an avatar not "
                  "loaded here go through it to the avatar's owner (docs/deployment.md)")
      ->check([](const std::string& v) {
        return v.rfind(':') == std::string::npos || v.rfind(':') + 1 == v.size()
                   ? std::string("must be HOST:PORT (the cluster proxy's gRPC address)")
                   : std::string();
      });
  cmd->callback([action, o] { *action = status_action([o] { return serve(*o); }); });
}

}  // namespace

LIPSYNC_REGISTER_COMMAND(add);

}  // namespace lipsync::cli
