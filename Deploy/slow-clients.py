#!/usr/bin/env python3
"""Holds N slow connections open against a kidneyseg server and measures what others get meanwhile.

    Deploy/slow-clients.py PORT N UPLOAD_FILE

Nine in ten connections trickle a request head, one in ten a 1 MB body, one byte per second each.
While they do, one kept-alive client sends 300 GET /healthz, 10 ms apart, and one normal upload
of UPLOAD_FILE is sent. Prints JSON: latencies (ms), non-200 probes, the upload's status, and how
many slow connections the server still held open at the end (it cuts heads off after 10 s and
bodies slower than 1 KiB/s after 10 s, so the run stays inside that time).
"""
import json, socket, sys, threading, time

port, count, upload_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


def response(sock):
    """Reads one response; returns its status (0 if the server closed first)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            return 0
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        body += piece
    return int(head.split(b" ")[1])


slow = []
for index in range(count):
    sock = socket.create_connection(("127.0.0.1", port))
    if index % 10 == 0:
        sock.sendall(b"POST /v1/jobs HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n")
    else:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
    sock.setblocking(False)
    slow.append(sock)

stopped = threading.Event()


def trickle():
    while not stopped.is_set():
        for sock in slow:
            try:
                sock.send(b"x")
            except OSError:
                pass
        stopped.wait(1)


threading.Thread(target=trickle, daemon=True).start()
time.sleep(1)

upload_status = []


def send_upload():
    body = open(upload_file, "rb").read()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST /v1/jobs HTTP/1.1\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    upload_status.append(response(sock))
    sock.close()


uploader = threading.Thread(target=send_upload)
uploader.start()

probe = socket.create_connection(("127.0.0.1", port))
latencies, failures, slowest = [], 0, (0, 0)
for index in range(300):
    start = time.perf_counter()
    probe.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
    if response(probe) != 200:
        failures += 1
        probe = socket.create_connection(("127.0.0.1", port))
    latencies.append((time.perf_counter() - start) * 1000)
    slowest = max(slowest, (latencies[-1], index))
    time.sleep(0.01)
uploader.join()


def still_open(sock):
    """Whether the server has not closed it: what it sent (a 408 or 503) is read first."""
    try:
        while sock.recv(65536):
            pass
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False


held = sum(still_open(sock) for sock in slow)
stopped.set()
latencies.sort()
print(json.dumps({
    "p50_ms": round(latencies[len(latencies) // 2], 2),
    "p99_ms": round(latencies[int(len(latencies) * 0.99)], 2),
    "max_ms": round(latencies[-1], 2),
    "slowest_probe": slowest[1],
    "failed_probes": failures,
    "upload_status": upload_status[0] if upload_status else 0,
    "slow_connections_held": held,
}))
