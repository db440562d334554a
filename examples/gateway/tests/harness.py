"""Real parts on 127.0.0.1 for the gateway tests: `admit serve`, nginx, Caddy, and an
upstream that echoes what it received.

Every process gets its own free port and its own temp dir (pid file, logs, config);
nothing is left running: each part is stopped by the fixture that started it.
"""

import json
import os
import pathlib
import re
import shutil
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
GATEWAY_DIR = HERE.parent
ROOT = GATEWAY_DIR.parent.parent
POLICIES = ROOT / "examples" / "policies"

# How long a part may take to start or a log line to appear before the test fails with
# what the part printed. Generous: the machine is shared. Never a pass/fail criterion
# for speed.
WAIT = float(os.environ.get("GATEWAY_TEST_WAIT", "20"))

ADMIT = os.environ.get("ADMIT_BIN", str(ROOT / "target" / "debug" / "admit"))
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CADDY = shutil.which("caddy") or "/usr/bin/caddy"

# The identity headers `admit serve` sets on allow (default --identity-prefix), as the
# example configs name them.
IDENTITY_HEADERS = [
    "X-Admit-Subject",
    "X-Admit-Authenticator",
    "X-Admit-Roles",
    "X-Admit-Scopes",
    "X-Admit-Constraint-Owner",
    "X-Admit-Dry-Run",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, log_path, what):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}):\n{read_text(log_path)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}:\n{read_text(log_path)}")


def read_text(path):
    try:
        return pathlib.Path(path).read_text(errors="replace")
    except OSError:
        return ""


def stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def render(template_path, **values):
    """The committed config with its {{NAME}} placeholders filled in; every placeholder
    must be given, so a config and the harness cannot drift apart silently."""
    text = pathlib.Path(template_path).read_text()
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", str(value))
    left = sorted(set(re.findall(r"\{\{([A-Z_]+)\}\}", text)))
    if left:
        raise ValueError(f"{template_path}: placeholders not filled: {left}")
    return text


# ---------------------------------------------------------------------------- upstream


class EchoHandler(socketserver.StreamRequestHandler):
    """A minimal HTTP/1.1 server that answers every request with what it received:
    method, raw target (bytes as latin-1, nothing decoded or collapsed) and headers
    (names as sent, in order), as JSON. Written on sockets because http.server rewrites
    targets that start with `//`."""

    def handle(self):
        while True:
            line = self.rfile.readline(65537)
            if not line:
                return
            if line in (b"\r\n", b"\n"):
                continue
            parts = line.rstrip(b"\r\n").split(b" ")
            if len(parts) != 3:
                self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            method, target, version = parts
            headers = []
            while True:
                h = self.rfile.readline(65537)
                if h in (b"\r\n", b"\n", b""):
                    break
                name, _, value = h.rstrip(b"\r\n").partition(b":")
                headers.append([name.decode("latin-1"), value.strip().decode("latin-1")])
            lower = {n.lower(): v for n, v in headers}
            length = int(lower.get("content-length", "0") or "0")
            body = self.rfile.read(length) if length else b""
            if lower.get("transfer-encoding", "").lower() == "chunked":
                body = self._read_chunked()
            received = {
                "method": method.decode("latin-1"),
                "target": target.decode("latin-1"),
                "headers": headers,
                "body": body.decode("latin-1"),
            }
            self.server.received.append(received)
            out = json.dumps(received).encode()
            close = lower.get("connection", "").lower() == "close" or version == b"HTTP/1.0"
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Upstream: echo\r\n"
                + b"Content-Length: %d\r\n" % len(out)
                + (b"Connection: close\r\n" if close else b"")
                + b"\r\n"
                + out
            )
            self.wfile.flush()
            if close:
                return

    def _read_chunked(self):
        body = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return body
            body += self.rfile.read(size)
            self.rfile.readline()


class EchoUpstream(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), EchoHandler)
        self.received = []
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.shutdown()
        self.server_close()


# ------------------------------------------------------------------------------- admit


class Admit:
    """`admit serve` on a free port (--listen 127.0.0.1:0, the port read from its
    `listening on` line), with a decision log in its temp dir."""

    def __init__(self, policy, env=None, extra_args=(), trusted_proxy="127.0.0.1/32"):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="admit-serve-"))
        self.decision_log = self.dir / "decisions.jsonl"
        self.stderr_path = self.dir / "stderr.log"
        args = [ADMIT, "serve", "--policy", str(policy), "--listen", "127.0.0.1:0",
                "--decision-log", str(self.decision_log)]
        if trusted_proxy:
            args += ["--trusted-proxy", trusted_proxy]
        args += list(extra_args)
        # Exactly the environment given (plus PATH): what the policy reads is what the
        # test says.
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        full_env.update(env or {})
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.stderr, env=full_env)
        self.port = self._read_port()
        self.addr = f"127.0.0.1:{self.port}"
        wait_for_port(self.port, self.proc, self.stderr_path, "admit serve")

    def _read_port(self):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            m = re.search(r"admit serve: listening on http://127\.0\.0\.1:(\d+)", read_text(self.stderr_path))
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.close()
        raise RuntimeError(f"admit serve did not start:\n{read_text(self.stderr_path)}")

    def log_lines(self):
        lines = []
        for line in read_text(self.decision_log).splitlines():
            if line.strip():
                lines.append(json.loads(line))
        return lines

    def close(self):
        stop(self.proc)
        self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class DecisionLog:
    """Reads the decisions one gateway request caused, in order. After the request, a
    sentinel decision is asked of admit directly (/auth/forward with a path no test
    uses); every line after the previous sentinel and before this one belongs to the
    request. So no timing guess: a gateway that answered without asking admit simply
    has no lines."""

    def __init__(self, admit):
        self.admit = admit
        self.count = 0
        self.offset = 0
        self.pending = b""

    def _new_lines(self):
        try:
            with open(self.admit.decision_log, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        data = self.pending + data
        *complete, self.pending = data.split(b"\n")
        return [json.loads(line) for line in complete if line.strip()]

    def decisions_since_last(self):
        self.count += 1
        sentinel = f"/admit-gateway-test-sentinel/{self.count}"
        raw_request(self.admit.port, "GET", "/auth/forward",
                    [("X-Forwarded-Method", "GET"), ("X-Forwarded-Uri", sentinel),
                     ("X-Forwarded-Host", "127.0.0.1"), ("X-Forwarded-Proto", "http"),
                     ("X-Forwarded-For", "127.0.0.1")])
        deadline = time.monotonic() + WAIT
        lines = []
        while True:
            lines += self._new_lines()
            for i, line in enumerate(lines):
                if line.get("path") == sentinel:
                    return lines[:i]
            if time.monotonic() > deadline:
                raise AssertionError(f"the sentinel {sentinel} never reached the decision log; last lines: {lines[-3:]}")
            time.sleep(0.002)


# ----------------------------------------------------------------------------- gateways


class Nginx:
    """nginx with examples/gateway/nginx.conf, rendered for these ports, run in the
    foreground with its pid file, logs and temp files in its own dir."""

    name = "nginx"

    def __init__(self, admit_addr, upstream_addr, template=GATEWAY_DIR / "nginx.conf"):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="gateway-nginx-"))
        # Workers run as `nobody` when the master is root; they write temp files here.
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(render(template, LISTEN=f"127.0.0.1:{self.port}", ADMIT=admit_addr,
                                    UPSTREAM=upstream_addr, RUNDIR=self.dir))
        self.log = self.dir / "stderr.log"
        self.out = open(self.log, "wb")
        self.proc = subprocess.Popen([NGINX, "-p", str(self.dir), "-c", str(self.conf), "-e", str(self.dir / "error.log"),
                                      "-g", "daemon off;"], stdout=self.out, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.proc, self.log, "nginx")

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def close(self):
        stop(self.proc, signal.SIGQUIT)  # graceful: in-flight requests finish
        self.out.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Caddy:
    """Caddy with examples/gateway/Caddyfile, rendered for these ports, its storage and
    home in its own dir (no admin API, no automatic HTTPS)."""

    name = "caddy"

    def __init__(self, admit_addr, upstream_addr, template=GATEWAY_DIR / "Caddyfile"):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="gateway-caddy-"))
        self.port = free_port()
        self.conf = self.dir / "Caddyfile"
        self.conf.write_text(render(template, HOST="127.0.0.1", PORT=self.port, ADMIT=admit_addr,
                                    UPSTREAM=upstream_addr, RUNDIR=self.dir))
        self.log = self.dir / "stderr.log"
        self.out = open(self.log, "wb")
        env = dict(os.environ, HOME=str(self.dir), XDG_DATA_HOME=str(self.dir / "data"),
                   XDG_CONFIG_HOME=str(self.dir / "config"))
        self.proc = subprocess.Popen([CADDY, "run", "--config", str(self.conf), "--adapter", "caddyfile"],
                                     stdout=self.out, stderr=subprocess.STDOUT, env=env)
        wait_for_port(self.port, self.proc, self.log, "caddy")

    def close(self):
        stop(self.proc)
        self.out.close()
        shutil.rmtree(self.dir, ignore_errors=True)


GATEWAYS = {"nginx": Nginx, "caddy": Caddy}


# ------------------------------------------------------------------------------ client


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # [(name, value)] as received
        self.body = body

    def header(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.headers} {self.body[:300]!r}>"


def raw_request(port, method, target, headers=(), body=b"", host=None, timeout=None):
    """One request over a fresh TCP connection with the target sent byte for byte (a
    str target is sent as latin-1, so every byte value can be written), read to the end
    (Connection: close)."""
    if isinstance(target, str):
        target = target.encode("latin-1")
    lines = [method.encode() + b" " + target + b" HTTP/1.1"]
    names = {n.lower() for n, _ in headers}
    if "host" not in names:
        lines.append(b"Host: " + (host or f"127.0.0.1:{port}").encode())
    for n, v in headers:
        lines.append(n.encode("latin-1") + b": " + v.encode("latin-1"))
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(b"Content-Length: %d" % len(body))
    lines.append(b"Connection: close")
    data = b"\r\n".join(lines) + b"\r\n\r\n" + body
    with socket.create_connection(("127.0.0.1", port), timeout=timeout or WAIT) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered (and closed) before reading everything: read it
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return parse_response(b"".join(chunks), method)


def parse_response(raw, method="GET"):
    head, _, rest = raw.partition(b"\r\n\r\n")
    if not head:
        return Response(0, [], b"")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = []
    for line in lines[1:]:
        n, _, v = line.partition(b":")
        headers.append((n.decode("latin-1"), v.strip().decode("latin-1")))
    te = {n.lower(): v for n, v in headers}.get("transfer-encoding", "")
    body = dechunk(rest) if "chunked" in te.lower() else rest
    return Response(status, headers, body)


def dechunk(data):
    out = b""
    while data:
        line, _, data = data.partition(b"\r\n")
        size = int(line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return out


def admit_token(policy, authenticator, sub, roles=(), scopes=(), env=None, lifetime=None):
    args = [ADMIT, "token", "--policy", str(policy), "--authenticator", authenticator, "--sub", sub]
    for r in roles:
        args += ["--role", r]
    for s in scopes:
        args += ["--scope", s]
    if lifetime is not None:
        args += ["--lifetime", str(lifetime)]
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    full_env.update(env or {})
    out = subprocess.run(args, check=True, capture_output=True, env=full_env, text=True)
    return out.stdout.strip()
