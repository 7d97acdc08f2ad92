"""The scheduler's rendezvous store (MS_ROLE=MS_SCHED) and the workers' client.

Like MindSpore's own scheduler, the process started with MS_ROLE=MS_SCHED
serves the rendezvous on MS_SCHED_HOST:MS_SCHED_PORT and exits once every
worker is gone.  Here it serves a small key-value store; each worker hands
it to the plugin as a host store (dlcoll_store_t: set / blocking get), so
the plugin's own rank-0 TCP store is not used.

Wire format (one TCP connection per worker, kept open for its lifetime):
  request   op:1 ('S' set, 'G' get)  klen:u32  key  vlen:u32  value  (G: value = timeout_ms:i32)
  reply     status:1 (0 ok, 1 timeout, 2 error)  vlen:u32  value
The scheduler exits once MS_WORKER_NUM connections have come and none is left.
"""
import ctypes
import os
import socket
import struct
import threading
import time


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return bytes(buf)


def _recv_frame(sock):
    op = _recv_exact(sock, 1)
    (klen,) = struct.unpack("!I", _recv_exact(sock, 4))
    key = _recv_exact(sock, klen)
    (vlen,) = struct.unpack("!I", _recv_exact(sock, 4))
    return op, key, _recv_exact(sock, vlen)


# ------------------------------------------------------------------ the scheduler


def serve(host, port, workers, timeout_s):
    """Serve the store until `workers` workers have connected and disconnected.

    Returns 0, or 1 when not every worker connected within timeout_s."""
    data, cond = {}, threading.Condition()
    state = {"connected": 0, "gone": 0}

    def handle(conn):
        try:
            while True:
                op, key, value = _recv_frame(conn)
                if op == b"S":
                    with cond:
                        data[key] = value
                        cond.notify_all()
                    conn.sendall(b"\0" + struct.pack("!I", 0))
                elif op == b"G":
                    (timeout_ms,) = struct.unpack("!i", value)
                    deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1e3
                    with cond:
                        while key not in data:
                            left = None if deadline is None else deadline - time.monotonic()
                            if left is not None and left <= 0:
                                break
                            cond.wait(left)
                        v = data.get(key)
                    if v is None:
                        conn.sendall(b"\1" + struct.pack("!I", 0))
                    else:
                        conn.sendall(b"\0" + struct.pack("!I", len(v)) + v)
                else:
                    conn.sendall(b"\2" + struct.pack("!I", 0))
        except (ConnectionError, OSError):
            pass
        finally:
            conn.close()
            with cond:
                state["gone"] += 1
                cond.notify_all()

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(max(16, workers))
    srv.settimeout(0.2)
    start = time.monotonic()
    try:
        while True:
            with cond:
                # Done once every worker came and no connection is left (a worker
                # that calls release() and init() again reconnects first).
                if state["connected"] >= workers and state["gone"] == state["connected"]:
                    return 0
                if state["connected"] < workers and time.monotonic() - start > timeout_s:
                    return 1
            try:
                conn, _ = srv.accept()
            except socket.timeout:
                continue
            conn.settimeout(None)
            with cond:
                state["connected"] += 1
            threading.Thread(target=handle, args=(conn,), daemon=True).start()
    finally:
        srv.close()


# ------------------------------------------------------------------ the workers' client


class _Store(ctypes.Structure):
    SET = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p,
                           ctypes.c_size_t)
    GET = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p,
                           ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t), ctypes.c_int)
    _fields_ = [("ctx", ctypes.c_void_p), ("set", SET), ("get", GET)]   # dlcoll_store_t


class SchedulerStore:
    """A connection to the scheduler's store, usable as a dlcoll_store_t (self.as_parameter)."""

    def __init__(self, host, port, connect_timeout_s):
        deadline = time.monotonic() + connect_timeout_s
        while True:   # the scheduler may start after the workers
            try:
                self.sock = socket.create_connection((host, port), timeout=5)
                break
            except OSError as e:
                if time.monotonic() > deadline:
                    raise ConnectionError(f"no MindSpore scheduler (MS_ROLE=MS_SCHED) at {host}:{port} "
                                          f"after {connect_timeout_s:.0f} s: {e}") from e
                time.sleep(0.1)
        self.sock.settimeout(None)
        self.lock = threading.Lock()
        self._struct = _Store(None, _Store.SET(self._set), _Store.GET(self._get))

    @property
    def as_parameter(self):
        return ctypes.cast(ctypes.pointer(self._struct), ctypes.c_void_p)

    def _request(self, op, key, value):
        with self.lock:
            self.sock.sendall(op + struct.pack("!I", len(key)) + key + struct.pack("!I", len(value)) + value)
            status = _recv_exact(self.sock, 1)[0]
            (vlen,) = struct.unpack("!I", _recv_exact(self.sock, 4))
            return status, _recv_exact(self.sock, vlen)

    def _set(self, _ctx, key, value, length):
        try:
            status, _ = self._request(b"S", key, ctypes.string_at(value, length) if length else b"")
            return 0 if status == 0 else 2
        except Exception:  # noqa: BLE001  (a C callback must not raise)
            return 2

    def _get(self, _ctx, key, buf, cap, length, timeout_ms):
        try:
            status, value = self._request(b"G", key, struct.pack("!i", timeout_ms))
            if status != 0:
                return status
            length[0] = len(value)
            ctypes.memmove(buf, value, min(cap, len(value)))
            return 0
        except Exception:  # noqa: BLE001
            return 2

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
