#!/usr/bin/env python3
"""Abuse a running skiff API server the way an attacker on loopback would, and measure what it
costs the server. Used by tests/e2e/api_front_door_test.sh (small counts, pass/fail checks) and
bench/run-api-front-door.sh (the figures). Every loop is bounded in count and time; traffic goes
to the loopback address in the kubeconfig only.

Each subcommand prints one JSON object on stdout.
"""
import argparse, json, os, random, resource, select, socket, ssl, string, sys, time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


class Api:
    def __init__(self, server, token, ca):
        hostport = server.split("//", 1)[1]
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)
        self.token = token
        self.ctx = ssl.create_default_context(cafile=ca)
        self.ctx.check_hostname = False

    def tcp(self, timeout=10):
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def tls(self, timeout=10):
        return self.ctx.wrap_socket(self.tcp(timeout), server_hostname=self.host)

    def request(self, sock, method, path, body=b"", token=True, headers=None):
        h = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        if token:
            h.append(f"Authorization: Bearer {self.token}")
        if body:
            h.append(f"Content-Length: {len(body)}")
            h.append("Content-Type: application/json")
        for k, v in (headers or {}).items():
            h.append(f"{k}: {v}")
        sock.sendall(("\r\n".join(h) + "\r\n\r\n").encode() + body)
        return read_response(sock, method)


def read_response(sock, method="GET"):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response head")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    length = int(headers.get("content-length", "0"))
    if method == "HEAD":
        return status, headers, rest  # whatever followed the head belongs to the next answer
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p))] if v else 0


def timed_gets(api, count, seconds):
    """Authenticated keep-alive GETs; latencies in ms (reconnects when the server closes)."""
    lat, failures = [], 0
    sock, deadline = None, time.time() + seconds
    for _ in range(count):
        if time.time() > deadline:
            break
        try:
            if sock is None:
                sock = api.tls()
            t = time.perf_counter()
            status, _, _ = api.request(sock, "GET", "/api/v1/namespaces/default/configmaps?limit=10")
            lat.append((time.perf_counter() - t) * 1000)
            if status != 200:
                failures += 1
        except Exception:
            failures += 1
            sock = None
    return lat, failures


def open_many(a, connect):
    """Up to a.count connections made by `connect`, for at most a.seconds; stops at the first refusal."""
    raise_nofile(a.count)
    socks, t0 = [], time.time()
    while len(socks) < a.count and time.time() - t0 <= a.seconds:
        try:
            socks.append(connect())
        except OSError:
            break
    return socks


def cmd_idle(api, a):
    """Opens connections that say nothing (a flood) and reports the server's memory per connection."""
    before = rss_kib(a.pid)
    socks = open_many(a, lambda: api.tcp(5))
    time.sleep(0.5)
    held = rss_kib(a.pid)
    lat, failures = timed_gets(api, a.gets, 20)
    alive = 0
    for s in socks:  # how many the server still holds (not closed under us)
        try:
            p = select.poll()
            p.register(s, select.POLLIN)
            ready = p.poll(0)
            alive += 0 if ready and s.recv(1, socket.MSG_PEEK) == b"" else 1
        except OSError:
            pass
    for s in socks:
        s.close()
    print(json.dumps({"opened": len(socks), "held": alive, "rss_before_kib": before, "rss_held_kib": held,
                      "bytes_per_connection": (held - before) * 1024 // max(1, len(socks)),
                      "gets": len(lat), "get_failures": failures, "get_p50_ms": percentile(lat, 0.5), "get_p99_ms": percentile(lat, 0.99)}))


def cmd_tls_idle(api, a):
    """Connections that finished the TLS handshake and then say nothing."""
    before = rss_kib(a.pid)
    socks = open_many(a, lambda: api.tls(5))
    held = rss_kib(a.pid)
    for s in socks:
        s.close()
    print(json.dumps({"opened": len(socks), "rss_before_kib": before, "rss_held_kib": held,
                      "bytes_per_connection": (held - before) * 1024 // max(1, len(socks))}))


def cmd_dribble(api, a):
    """Connections that send a request head one byte at a time while authenticated GETs are timed."""
    raise_nofile(a.count)
    head = b"GET /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200
    socks = []
    t0 = time.time()
    for _ in range(a.count):
        if time.time() - t0 > a.seconds:
            break
        try:
            s = api.tcp(5)
            s.setblocking(False)
            socks.append([s, 0])
        except OSError:
            break
    closed_by_server, sent = 0, 0
    lat, failures = [], 0
    deadline = time.time() + a.seconds
    sock = None
    while time.time() < deadline:
        # One byte to every dribbler, then a timed GET.
        for entry in socks:
            s, i = entry
            if s is None:
                continue
            try:
                s.send(head[i % len(head):i % len(head) + 1])
                entry[1] += 1
                sent += 1
            except OSError:
                closed_by_server += 1
                s.close()
                entry[0] = None
        if len(lat) + failures < a.gets:
            l, f = timed_gets(api, 20, 5)
            lat += l
            failures += f
        else:
            time.sleep(0.5)
    for s, _ in socks:
        if s is not None:
            s.close()
    print(json.dumps({"dribblers": len(socks), "closed_by_server": closed_by_server, "bytes_dribbled": sent,
                      "gets": len(lat), "get_failures": failures, "get_p50_ms": percentile(lat, 0.5), "get_p99_ms": percentile(lat, 0.99)}))


def cmd_gets(api, a):
    lat, failures = timed_gets(api, a.gets, a.seconds)
    print(json.dumps({"gets": len(lat), "get_failures": failures, "get_p50_ms": percentile(lat, 0.5), "get_p99_ms": percentile(lat, 0.99)}))


def cmd_big_bodies(api, a):
    """Unauthenticated uploads of 3 MiB held at their last byte; the server must not read them."""
    raise_nofile(a.count)
    before = rss_kib(a.pid)
    size = 3 * 1024 * 1024
    chunk = b"x" * 65536
    socks, refused_early = [], 0
    for _ in range(a.count):
        s = api.tls(10)
        s.sendall(f"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n".encode())
        s.settimeout(0.2)
        sent = 0
        try:
            while sent < size - 1:
                n = min(len(chunk), size - 1 - sent)
                s.sendall(chunk[:n])
                sent += n
        except (OSError, socket.timeout):
            refused_early += 1
        socks.append(s)
    peak = rss_kib(a.pid)
    statuses = []
    for s in socks:
        try:
            s.settimeout(2)
            statuses.append(read_response(s)[0])
        except Exception:
            statuses.append(0)
        s.close()
    time.sleep(0.5)
    print(json.dumps({"uploads": len(socks), "cut_off_while_sending": refused_early, "rss_before_kib": before, "rss_peak_kib": peak,
                      "rss_after_kib": rss_kib(a.pid), "statuses": sorted(set(statuses))}))


def cmd_methods(api, a):
    """Random methods, then the size of /metrics."""
    def metrics_size():
        s = api.tls()
        st, _, body = api.request(s, "GET", "/metrics")
        s.close()
        return len(body)
    before = metrics_size()
    s = api.tls()
    for i in range(a.count):
        m = "".join(random.choice(string.ascii_uppercase) for _ in range(12))
        try:
            api.request(s, m, "/api/v1/namespaces/default/configmaps")
        except Exception:
            s = api.tls()
    s.close()
    print(json.dumps({"methods": a.count, "metrics_bytes_before": before, "metrics_bytes_after": metrics_size()}))


def cmd_watchers(api, a):
    """Opens watches of configmaps in one namespace; reading or not; then writes updates."""
    raise_nofile(a.count)
    ns = a.namespace
    before = rss_kib(a.pid)
    watchers, t0 = [], time.time()
    for _ in range(a.count):
        if time.time() - t0 > a.seconds:
            break
        s = api.tls(10)
        s.sendall(f"GET /api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {api.token}\r\n\r\n".encode())
        s.setblocking(False)
        watchers.append(s)
    opened = rss_kib(a.pid)
    writer = api.tls()
    payload = "v" * a.size
    peak, writes, errors = opened, 0, 0
    received = [0] * len(watchers)
    end = time.time() + a.seconds
    interval = 1.0 / a.rate if a.rate > 0 else 0
    next_write = time.time()
    while writes < a.updates and time.time() < end:
        body = json.dumps({"metadata": {"name": f"u{writes % 50}"}, "data": {"v": payload, "n": str(writes)}}).encode()
        st, _, _ = api.request(writer, "PUT", f"/api/v1/namespaces/{ns}/configmaps/u{writes % 50}", body)
        if st not in (200, 201):
            st, _, _ = api.request(writer, "POST", f"/api/v1/namespaces/{ns}/configmaps", body)
        writes += 1
        errors += st not in (200, 201)
        if a.read:
            for i, s in enumerate(watchers):
                try:
                    while True:
                        d = s.recv(1 << 20)
                        if not d:
                            break
                        received[i] += len(d)
                except (ssl.SSLWantReadError, BlockingIOError):
                    pass
                except OSError:
                    pass
        if writes % 20 == 0:
            peak = max(peak, rss_kib(a.pid))
        next_write += interval
        delay = next_write - time.time()
        if delay > 0:
            time.sleep(delay)
    peak = max(peak, rss_kib(a.pid))
    time.sleep(1)
    # What each unread watcher finds when it finally reads: the stream's end tells whether the
    # server cut it off (ERROR 410) or still has it open.
    cut_off = 0
    if not a.read:
        for s in watchers[: min(len(watchers), 20)]:
            s.setblocking(True)
            s.settimeout(3)
            data = b""
            try:
                while len(data) < 256 * 1024 * 1024:
                    d = s.recv(1 << 20)
                    if not d:
                        break
                    data += d
            except Exception:
                pass
            if b'"code":410' in data[-4096:]:
                cut_off += 1
    for s in watchers:
        s.close()
    writer.close()
    print(json.dumps({"watchers": len(watchers), "updates": writes, "update_errors": errors, "update_bytes": a.size,
                      "seconds": round(time.time() - t0, 1), "rss_before_kib": before, "rss_watching_kib": opened, "rss_peak_kib": peak,
                      "checked_cut_off": min(len(watchers), 20) if not a.read else 0, "cut_off_410": cut_off,
                      "bytes_received_median": sorted(received)[len(received) // 2] if received else 0}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["idle", "tls-idle", "dribble", "gets", "big-bodies", "methods", "watchers"])
    p.add_argument("--server", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--gets", type=int, default=200)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--updates", type=int, default=100)
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--size", type=int, default=1000)
    p.add_argument("--read", action="store_true")
    p.add_argument("--namespace", default="default")
    a = p.parse_args()
    api = Api(a.server, a.token, a.ca)
    {"idle": cmd_idle, "tls-idle": cmd_tls_idle, "dribble": cmd_dribble, "gets": cmd_gets, "big-bodies": cmd_big_bodies,
     "methods": cmd_methods, "watchers": cmd_watchers}[a.what](api, a)


if __name__ == "__main__":
    main()
