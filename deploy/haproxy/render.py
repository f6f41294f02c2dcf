#!/usr/bin/python3
"""Renders haproxy.cfg.in for Kubernetes (DNS discovery of the StatefulSet's pods) or for
plain machines (a static list of replicas). One template, so both variants route the same.

  render.py kubernetes [--service lipsync.default.svc.cluster.local] [--max-replicas 16]
  render.py static --replica NAME=HOST:GRPC_PORT:HTTP_PORT ... [--grpc-bind :50053] [--http-bind :8080]
"""
import argparse
import pathlib
import sys

TEMPLATE = pathlib.Path(__file__).with_name("haproxy.cfg.in")
# A gRPC server: HTTP/2 for the calls, health checks on the replica's HTTP port in HTTP/1.1.
# check-proto must be on the server line: a server's `proto h2` overrides default-server's
# check-proto, and HAProxy 2.6 then speaks h2 to the HTTP port and marks every replica down.
GRPC_SERVER_OPTIONS = "proto h2 port {} check-proto h1"


def render(values):
    text = TEMPLATE.read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text.replace("\n\n\n", "\n\n")


def kubernetes(args):
    # server-template fills up to N slots from the headless Service's A records; a slot whose
    # pod is gone is put in maintenance. Names are stable per slot, so the ring is too.
    def servers(port):
        return (f"    server-template lipsync {args.max_replicas} {args.service}:{port} "
                f"resolvers k8s init-addr none")
    return render({
        "RESOLVERS": ("\nresolvers k8s\n    parse-resolv-conf\n    hold valid 5s\n"
                      "    hold obsolete 5s\n    accepted_payload_size 8192"),
        "GRPC_BIND": ":50053",
        "HTTP_BIND": ":8080",
        "GRPC_SERVERS": servers(50053).replace("init-addr none",
                                               f"init-addr none {GRPC_SERVER_OPTIONS.format(8080)}"),
        "HTTP_SERVERS": servers(8080),
    })


def parse_replica(text):
    try:
        name, address = text.split("=", 1)
        host, grpc_port, http_port = address.rsplit(":", 2)
        return name, host, int(grpc_port), int(http_port)
    except ValueError:
        sys.exit(f"render.py: --replica '{text}' is not NAME=HOST:GRPC_PORT:HTTP_PORT")


def static(args):
    replicas = [parse_replica(r) for r in args.replica]
    grpc = "\n".join(f"    server {n} {h}:{g} {GRPC_SERVER_OPTIONS.format(p)}"
                     for n, h, g, p in replicas)
    http = "\n".join(f"    server {n} {h}:{p}" for n, h, g, p in replicas)
    return render({
        "RESOLVERS": "",
        "GRPC_BIND": args.grpc_bind,
        "HTTP_BIND": args.http_bind,
        "GRPC_SERVERS": grpc,
        "HTTP_SERVERS": http,
    })


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="variant", required=True)
    k8s = sub.add_parser("kubernetes")
    k8s.add_argument("--service", default="lipsync.default.svc.cluster.local")
    k8s.add_argument("--max-replicas", type=int, default=16)
    plain = sub.add_parser("static")
    plain.add_argument("--replica", action="append", required=True)
    plain.add_argument("--grpc-bind", default=":50053")
    plain.add_argument("--http-bind", default=":8080")
    args = parser.parse_args()
    sys.stdout.write(kubernetes(args) if args.variant == "kubernetes" else static(args))


if __name__ == "__main__":
    main()
