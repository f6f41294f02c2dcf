#!/usr/bin/env python3
"""Runs the shell commands of the documentation, so that the docs stay true (ctest docs_commands).

usage: docs_commands.py --source DIR --build DIR [--list] [FILE.md ...]
       docs_commands.py --self-test

Every fenced ```sh block of README.md and docs/*.md (or the FILEs given) runs, in order, as
bash with `set -e -o pipefail`; the blocks of one file share their environment and current
folder (an `export` or `cd` carries over to the next block), as a reader typing them would. Each
file runs in a scratch folder that mirrors the checkout after `make demo` (every top-level entry
linked, an empty `out/`) with the build's folder as `build/release`, the built `lipsync` first on PATH (as after `make install`),
and Debian's /usr/bin before anything else (a fresh Debian 12).

A block that cannot run here is marked on its line before (blank lines allowed in between):
    <!-- docs-test: skip (REASON) -->      not run; the reason is required
    <!-- docs-test: fails -->             shows an error: it must exit with a failure
    <!-- docs-test: server -->            one `lipsync serve ...` command: started in the
        background with `--port P --http-port H` (free ports) appended, ready when /health/ready
        answers 200; later blocks of the file get 50053 -> P and 8080 -> H; stopped at the end.
Besides the commands, every relative link of the files must name an existing file, and no file
may send readers to ../shared/ (not part of the repository).
Exit status: 0 when every block ran and every check held, 1 otherwise, 2 for a usage error.
"""
import argparse
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BLOCK_TIMEOUT_S = 180
SERVER_READY_TIMEOUT_S = 120
MARKER = re.compile(r"^<!--\s*docs-test:\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(```+)\s*([A-Za-z0-9_+-]*)\s*$")
LINK = re.compile(r"\]\(([^)\s]+)\)")


class Block:
    def __init__(self, path, line, lang, text, marker):
        self.path, self.line, self.lang, self.text, self.marker = path, line, lang, text, marker

    def where(self):
        return f"{self.path.name}:{self.line}"


def parse(path):
    """The fenced blocks of a Markdown file, each with the docs-test marker before it (or None)."""
    blocks, errors = [], []
    lines = path.read_text(encoding="utf-8").splitlines()
    i, marker, marker_line = 0, None, 0
    while i < len(lines):
        line = lines[i]
        m = MARKER.match(line.strip())
        if m:
            marker, marker_line = m.group(1), i + 1
            i += 1
            continue
        fence = FENCE.match(line)
        if fence:
            indent, ticks, lang = fence.groups()
            body, j = [], i + 1
            while j < len(lines) and not lines[j].strip().startswith(ticks):
                body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j])
                j += 1
            if j == len(lines):
                errors.append(f"{path.name}:{i + 1}: the block is not closed")
            blocks.append(Block(path, i + 1, lang, "\n".join(body) + "\n", marker))
            marker = None
            i = j + 1
            continue
        if line.strip() and marker is not None:
            errors.append(f"{path.name}:{marker_line}: the docs-test marker is not followed by a "
                          "fenced block")
            marker = None
        i += 1
    for b in blocks:
        if b.marker is None:
            continue
        if b.lang != "sh":
            errors.append(f"{b.where()}: a docs-test marker on a '{b.lang or 'plain'}' block, "
                          "which never runs: mark only sh blocks")
        elif b.marker in ("server", "fails"):
            pass
        elif not re.fullmatch(r"skip \(\S.*\)", b.marker):
            errors.append(f"{b.where()}: unknown marker 'docs-test: {b.marker}': use "
                          "'docs-test: skip (REASON)', 'docs-test: fails' or 'docs-test: server'")
    return blocks, errors


def check_links(path, source):
    errors = []
    text = path.read_text(encoding="utf-8")
    for n, line in enumerate(text.splitlines(), 1):
        if "../shared/" in line:
            errors.append(f"{path.name}:{n}: names ../shared/, which is not part of the repository")
        for target in LINK.findall(line):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            file = target.split("#", 1)[0]
            if not (path.parent / file).resolve().exists():
                errors.append(f"{path.name}:{n}: the link '{target}' names no file")
    return errors


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scratch_tree(source, build, root):
    """A folder that looks like the checkout after a build; outputs (out/, ...) stay in it."""
    for entry in source.iterdir():
        if entry.name in ("build", "out", ".git"):
            continue
        (root / entry.name).symlink_to(entry)
    (root / "build").mkdir()
    (root / "build" / "release").symlink_to(build)
    (root / "out").mkdir()  # as `make demo` leaves it: the docs' commands run after it
    (root / "bin").mkdir()
    (root / "home").mkdir()
    lipsync = build / "src" / "cli" / "lipsync"
    if lipsync.exists():
        (root / "bin" / "lipsync").symlink_to(lipsync)


class FileRun:
    """Runs one file's blocks in order, carrying the environment and folder between them."""

    def __init__(self, root):
        self.root = root
        self.state = root / ".docs-test-state"
        self.env = {
            "PATH": f"{root / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(root / "home"),
            "LANG": "C.UTF-8",
            "TERM": "dumb",
        }
        for name in ("LIPSYNC_REFERENCE_DIR", "LIPSYNC_TEST_MODELS_DIR", "TMPDIR"):
            if name in os.environ:
                self.env[name] = os.environ[name]
        self.state.write_text(f"cd {shlex.quote(str(root))}\n")
        self.ports = {}
        self.server = None
        self.server_log = None

    def substitute(self, text):
        for old, new in self.ports.items():
            text = re.sub(rf"(?<![0-9]){old}(?![0-9])", str(new), text)
        return text

    def script(self, body):
        # The state file restores the exported variables and the folder of the previous block;
        # the block's own ones are saved for the next one, only when it succeeded.
        state = shlex.quote(str(self.state))
        return (f"source {state}\nset -e -o pipefail\n{body}\n"
                f"{{ export -p | grep -v '^declare -x \\(OLDPWD\\|PWD\\|SHLVL\\|_\\)='; "
                f"echo cd \"$(printf %q \"$PWD\")\"; }} > {state}\n")

    def run(self, block):
        ok, what = self.run_body(self.substitute(block.text))
        if block.marker != "fails":
            return ok, what
        if ok:
            return False, "succeeded, but the docs show it failing ('docs-test: fails')"
        return True, "failed, as the docs show: " + what.splitlines()[0]

    def run_body(self, body):
        start = time.monotonic()
        # A session of its own, killed whole afterwards: nothing a block started outlives it.
        proc = subprocess.Popen(["bash", "-c", self.script(body)], env=self.env, cwd=self.root,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=BLOCK_TIMEOUT_S)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:  # also when the harness itself is stopped
            kill_group(proc.pid)
        if timed_out:
            output, _ = proc.communicate()
            return False, (f"timed out after {BLOCK_TIMEOUT_S} s (a server? mark it "
                           f"'docs-test: server')\n{output.decode(errors='replace')}")
        took = time.monotonic() - start
        output = output.decode(errors="replace")
        if proc.returncode != 0:
            return False, f"exit status {proc.returncode} after {took:.1f} s\n{output}"
        return True, f"{took:.1f} s"

    def start_server(self, block):
        command = block.text.replace("\\\n", " ").strip()
        if "\n" in command or not re.match(r"^(\S*/)?lipsync\s.*\bserve\b", command):
            return False, "a 'docs-test: server' block must be one `lipsync serve ...` command"
        self.stop_server()
        grpc_port, http_port = free_port(), free_port()
        self.ports = {50053: grpc_port, 8080: http_port}
        self.server_log = self.root / "server.log"
        log = open(self.server_log, "wb")
        self.server = subprocess.Popen(
            ["bash", "-c", self.script(f"exec {command} --port {grpc_port} --http-port {http_port}")],
            env=self.env, cwd=self.root, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + SERVER_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                return False, f"the server exited ({self.server.returncode}):\n{self.log_tail()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health/ready",
                                            timeout=2) as r:
                    if r.status == 200:
                        return True, f"ready on gRPC {grpc_port}, HTTP {http_port}"
            except OSError:
                pass
            time.sleep(0.3)
        return False, f"not ready within {SERVER_READY_TIMEOUT_S} s:\n{self.log_tail()}"

    def log_tail(self):
        return "\n".join(self.server_log.read_text(errors="replace").splitlines()[-20:])

    def stop_server(self):
        if self.server is None:
            return True
        self.server.send_signal(signal.SIGTERM)
        try:
            code = self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None
        kill_group(self.server.pid)
        self.server.wait()
        self.server = None
        return code == 0


def run_files(files, source, build, list_only=False, out=sys.stdout):
    failures, ran, skipped = [], 0, 0
    for path in files:
        blocks, errors = parse(path)
        errors += check_links(path, source)
        failures += errors
        for e in errors:
            print(f"FAIL {e}", file=out)
        runnable = [b for b in blocks if b.lang == "sh"]
        if list_only:
            for b in runnable:
                print(f"{b.where()}: {b.marker or 'run'}", file=out)
            continue
        if not any(b.marker in (None, "server", "fails") for b in runnable):
            skipped += len(runnable)
            continue
        with tempfile.TemporaryDirectory(prefix="docs-test-") as tmp:
            root = Path(tmp)
            scratch_tree(source, build, root)
            runner = FileRun(root)
            cache = build / "CMakeCache.txt"
            cache_before = cache.stat().st_mtime_ns if cache.exists() else None
            try:
                for b in runnable:
                    if b.marker and b.marker.startswith("skip"):
                        skipped += 1
                        print(f"skip {b.where()}: {b.marker[5:]}", file=out)
                        continue
                    ok, what = (runner.start_server(b) if b.marker == "server"
                                else runner.run(b))
                    ran += 1
                    if ok:
                        print(f"ok   {b.where()} ({what})", file=out)
                    else:
                        failures.append(b.where())
                        print(f"FAIL {b.where()}: {what}\n--- the block:\n{b.text}---", file=out)
                        break  # later blocks of the file build on this one
            finally:
                if cache_before is not None and cache.stat().st_mtime_ns != cache_before:
                    failures.append(f"{path.name}: a command reconfigured the build")
                    print(f"FAIL {path.name}: a command re-ran CMake in the build folder "
                          "(make, cmake): mark it 'docs-test: skip (REASON)' and reconfigure "
                          "the build from the checkout", file=out)
                if not runner.stop_server():
                    failures.append(f"{path.name}: the server did not stop cleanly on SIGTERM")
                    print(f"FAIL {path.name}: the server did not stop cleanly:\n"
                          f"{runner.log_tail()}", file=out)
    if not list_only:
        print(f"{ran} blocks ran, {skipped} skipped, {len(failures)} failures", file=out)
    return not failures


def self_test():
    """The harness itself: a failing command fails it, state carries over, markers are checked."""
    import io
    cases = {
        "passes.md": ("```sh\nexport GREETING=hello\ncd sub\n```\n\n"
                      "<!-- docs-test: skip (never runs) -->\n```sh\nfalse\n```\n"
                      "```sh\ntest \"$GREETING\" = hello\ntest \"$(basename \"$PWD\")\" = sub\n```\n"
                      "```\nfalse (output, not run)\n```\n", True),
        "fails.md": ("```sh\ntrue\n```\n```sh\nfalse\necho not reached\n```\n", False),
        "fails_mid_block.md": ("```sh\nfalse\ntrue\n```\n", False),
        "fails_in_pipe.md": ("```sh\nfalse | cat\n```\n", False),
        "shows_a_failure.md": ("<!-- docs-test: fails -->\n```sh\nfalse\n```\n", True),
        "shows_a_failure_that_passes.md": ("<!-- docs-test: fails -->\n```sh\ntrue\n```\n",
                                           False),
        "bad_marker.md": ("<!-- docs-test: skpi (typo) -->\n```sh\ntrue\n```\n", False),
        "skip_without_reason.md": ("<!-- docs-test: skip -->\n```sh\ntrue\n```\n", False),
        "dead_link.md": ("See [nothing](no_such_page.md).\n\n```sh\ntrue\n```\n", False),
        "shared_link.md": ("See `../shared/spec/pipeline.md`.\n", False),
    }
    ok = True
    with tempfile.TemporaryDirectory(prefix="docs-self-test-") as tmp:
        source = Path(tmp) / "source"
        (source / "sub").mkdir(parents=True)
        build = Path(tmp) / "build"
        build.mkdir()
        for name, (text, want) in cases.items():
            path = source / name
            path.write_text(text)
            log = io.StringIO()
            got = run_files([path], source, build, out=log)
            print(f"{'ok  ' if got == want else 'FAIL'} {name}: "
                  f"{'passes' if got else 'fails'}, as {'it should' if got == want else 'it should not'}")
            if got != want:
                print(log.getvalue())
                ok = False
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", type=Path, help="the checkout")
    ap.add_argument("--build", type=Path, help="the build folder (build/release)")
    ap.add_argument("--list", action="store_true", help="list the sh blocks and their markers")
    ap.add_argument("--self-test", action="store_true", help="test the harness itself")
    ap.add_argument("files", nargs="*", type=Path)
    a = ap.parse_args()
    # Stopped from outside (ctest's timeout, Ctrl-C): the finally blocks still stop the server
    # and remove the scratch folders.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if a.self_test:
        return 0 if self_test() else 1
    if a.source is None or a.build is None:
        ap.error("--source and --build are required")
    source, build = a.source.resolve(), a.build.resolve()
    files = [f.resolve() for f in a.files] or \
        [source / "README.md"] + sorted((source / "docs").glob("*.md"))
    return 0 if run_files(files, source, build, a.list) else 1


if __name__ == "__main__":
    sys.exit(main())
