"""The simulated API served over real sockets in wall time: an ASGI app under uvicorn.

The same pure core as the in-process transports answers each request, at t = wall
seconds since the server's epoch (its start, or its first request so that a run and
the rate limiter's windows start together). A response waits its service time before
it is sent. Loopback TCP setup costs microseconds, so the first request on each new
client connection waits the scenario's `connect_s`, as the in-process pool model charges
it: real and simulated runs pay the same setup. The scenario's faults apply as in-process:
a reset drops the connection, a truncated answer sends half its body and drops it, and a
hang simply takes longer than the client waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NoReturn
from urllib.parse import parse_qsl

from bench.api.base import TIME_HEADER, SimRequest
from bench.api.core import SimulatedAPI
from bench.api.faults import with_faults
from bench.errors import HarnessError
from bench.scenario.model import Scenario
from bench.secrets import check_token, read_token, redact_errors
from bench.serve.dialect import SIM_PROFILE as _SIM
from bench.serve.dialect import Dialect
from bench.world.dataset import generate
from bench.world.records import World
from strategies.profile import ENDPOINTS, ApiProfile

__all__ = ["ServerProcess", "SimServer", "check_host", "run_server", "scale_scenario", "serve"]

Epoch = Literal["startup", "first-request"]
#: the header carrying the server's t (seconds since its epoch) when the request arrived
#: what the server's answers hold besides the world's own strings, numbers and time stamps
_ANSWER_WORDS = (
    "status success fail message result count paging next cursor unauthorized id conversationId sentAt body "
    "editedAt deleted reservationId createdAt lastMessageAt updatedOn content-type application/json"
).split()


def scale_scenario(scenario: Scenario, factor: float) -> Scenario:
    """The scenario with every latency, store cost, rate-limit window and activity window times `factor`.

    Lets a real-time check run `1/factor` times faster; both sides of a comparison
    must use the same scaled scenario. Limits stay counts, so the ratio of request
    rate to limit is unchanged. Later syncs stay at least 3 s apart (the world
    generator needs room for their activity).
    """
    if factor <= 0:
        raise ValueError(f"time scale must be positive, not {factor}")
    if factor == 1:
        return scenario

    def window(w: tuple[float, float]) -> tuple[float, float]:
        return (w[0] * factor, w[1] * factor)

    lat = scenario.latency
    endpoints = {
        k: v.model_copy(update={"base_s": v.base_s * factor, "per_item_s": v.per_item_s * factor})
        for k, v in lat.endpoints.items()
    }
    return scenario.model_copy(
        update={
            "latency": lat.model_copy(
                update={
                    "connect_s": lat.connect_s * factor,
                    "throttled_s": lat.throttled_s * factor,
                    "endpoints": endpoints,
                }
            ),
            "rate_limits": tuple(r.model_copy(update={"window_s": r.window_s * factor}) for r in scenario.rate_limits),
            "store": scenario.store.model_copy(
                update={"statement_s": scenario.store.statement_s * factor, "row_s": scenario.store.row_s * factor}
            ),
            "activity": scenario.activity.model_copy(
                update={"during_sync_window_s": window(scenario.activity.during_sync_window_s)}
            ),
            "next_syncs": tuple(
                n.model_copy(
                    update={
                        "after_s": max(3.0, n.after_s * factor),
                        "during_sync_window_s": window(n.during_sync_window_s),
                    }
                )
                for n in scenario.next_syncs
            ),
        }
    )


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse to listen beyond this machine unless asked: the simulator has no real security."""
    if allow_remote or host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise HarnessError(f"--host {host} is not a loopback address; pass --allow-remote to serve beyond this machine")


def served_words(world: World, profile: ApiProfile) -> list[str]:
    """What the served world's records and answers show besides numbers and time stamps (which
    `check_token` refuses on their own): its accounts, its message bodies, its field and route names.
    A client cannot scrub a token inside them without changing the data, so `serve` refuses it."""
    bodies = (f"message {m.id}, edited" for m in world.messages())
    return [json.dumps(world.accounts, ensure_ascii=False), *bodies, *_ANSWER_WORDS, *ENDPOINTS, repr(profile)]


def _stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class SimServer:
    """ASGI app: the simulated API on wall time. handle() is synchronous and the app runs on
    one event loop, so calls into the core never interleave and need no lock."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        epoch: Epoch = "startup",
        profile: ApiProfile | None = None,
        token: str | None = None,
        log: Callable[[str], None] = _stderr_line,
        source: Callable[[], float] = time.monotonic,
    ) -> None:
        world = generate(scenario)
        self.auth = profile or _SIM
        words = served_words(world, self.auth) if token is not None else ()
        secret = check_token(token, words, in_header=self.auth.auth == "bearer")
        self.api = with_faults(SimulatedAPI(world), scenario.faults)  # as the in-process runner
        # make the history visible now: done lazily, the first request would pay tens of ms for it
        self.api.live.advance(0.0)
        self.connect_s = scenario.latency.connect_s
        self.epoch = epoch
        self.dialect = Dialect(profile) if profile is not None and profile != _SIM else None
        self._token = token
        self._log = log if secret is None else lambda line: log(secret.redact(line))  # a path may hold it
        self._source = source
        self._t0: float | None = None
        self._seen: set[tuple[str, int]] = set()
        self._opened: dict[tuple[str, int], float] = {}  # connections not yet used, by client, with open time

        self._transports: dict[tuple[str, int], asyncio.Transport] = {}

    def opened(self, client: tuple[str, int], transport: asyncio.Transport | None = None) -> None:
        """A client opened a connection (called by the HTTP protocol): its setup time runs from now."""
        self._opened[client] = self._source()
        if transport is not None:
            self._transports[client] = transport

    def closed(self, client: tuple[str, int]) -> None:
        self._transports.pop(client, None)

    def start(self) -> None:
        """Start the clock now (epoch `startup`); with `first-request` it starts at the first request."""
        if self.epoch == "startup":
            self._t0 = self._source()

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            return
        arrival = self._source()
        client = scope.get("client")
        key = (client[0], client[1]) if client is not None else None
        new = key is not None and key not in self._seen
        # a new connection's setup runs from when it was opened: the client's own work between
        # opening it and sending the first request is part of the setup, not added to it
        opened = self._opened.pop(key, arrival) if new else arrival  # type: ignore[arg-type]
        if self._t0 is None:
            self._t0 = opened
        if new:
            self._seen.add(key)  # type: ignore[arg-type]
            await _sleep_until(self._source, opened + self.connect_s)
        began = self._source()
        handled_t = began - self._t0
        status, headers, body, service_s, fault = self._answer(scope)  # no await in here
        headers.append((TIME_HEADER, f"{arrival - self._t0:.6f}"))
        await _sleep_until(self._source, began + service_s)
        headers.append(("content-length", str(len(body))))
        transport = self._transports.get(key) if key is not None else None
        if fault == "reset" and transport is not None:
            transport.abort()  # the client sees the connection dropped with no response
            await _disconnected(receive)
            self._log(f"{scope['method']} {scope['path']} reset t={handled_t:.3f}")
            return
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            }
        )
        if fault == "truncated" and transport is not None:
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            transport.abort()  # half the promised body, then the connection drops
            await _disconnected(receive)
            self._log(f"{scope['method']} {scope['path']} truncated t={handled_t:.3f}")
            return
        await send({"type": "http.response.body", "body": body})
        took_ms = (self._source() - arrival) * 1000
        self._log(f"{scope['method']} {scope['path']} {status} t={handled_t:.3f} {took_ms:.1f} ms")

    def _answer(self, scope: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes, float, str | None]:
        """Status, headers, body, service time and transport fault of one request, from the core at the current t."""
        path = scope["path"]
        query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        offered = query.pop(self.auth.auth_param, None)  # never handed to the core: it would echo it in links
        if self._token is not None:
            if self.auth.auth == "query":
                given = offered or ""
            else:
                given = headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), self._token.encode()):
                return _failure(401, "unauthorized")
        if self.dialect is not None:
            translated = self.dialect.inbound(path, query)
            if translated is None:
                return _failure(404, "not found")
            path, query = translated
        assert self._t0 is not None, "the clock starts before any request is answered"
        t = self._source() - self._t0
        sim = self.api.handle(SimRequest(scope["method"], path, query, headers), t)
        body = self.dialect.outbound(sim.body) if self.dialect is not None and sim.status == 200 else sim.body
        fault = sim.transport_fault
        return sim.status or 502, list(sim.headers), body, sim.service_s, fault


def _failure(status: int, message: str) -> tuple[int, list[tuple[str, str]], bytes, float, None]:
    body = json.dumps({"status": "fail", "message": message}).encode()
    return status, [("content-type", "application/json")], body, 0.0, None


async def _disconnected(receive: Callable[..., Any], timeout: float = 1.0) -> None:
    """Wait for the server to notice a connection we dropped (else it reports an unfinished response)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while (await receive())["type"] != "http.disconnect":
                pass


async def _sleep_until(source: Callable[[], float], deadline: float) -> None:
    """Sleep to an absolute deadline, so time spent computing is part of the wait, not added to it."""
    remaining = deadline - source()
    if remaining > 0:
        await asyncio.sleep(remaining)


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as error:
        raise HarnessError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return sock


def _protocol(app: SimServer) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, telling `app` when each client connection opens."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if self.client is not None:
                app.opened((self.client[0], self.client[1]), transport)

        def connection_lost(self, exc: Exception | None) -> None:
            super().connection_lost(exc)
            if self.client is not None:
                app.closed((self.client[0], self.client[1]))

    return Protocol


def serve(app: SimServer, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve `app` until Ctrl-C (or SIGTERM); `on_ready(url)` is called once it accepts connections."""
    import uvicorn

    sock = _bind(host, port)
    actual = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(
        app,
        http=_protocol(app),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=600,
        timeout_graceful_shutdown=5,
        date_header=False,
        server_header=False,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.005)
        if server.started:
            app.start()
            on_ready(f"http://{shown}:{actual}")
        await task

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass  # uvicorn already shut down cleanly and re-raised the signal
    finally:
        sock.close()


def run_server(
    scenario: str,
    *,
    seed: int | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    allow_remote: bool = False,
    time_scale: float = 1.0,
    epoch: Epoch = "startup",
    profile: Path | None = None,
    token_env: str | None = None,
) -> None:
    """`syncbench serve`: check the input, build the world, announce the URL on stdout, serve until Ctrl-C."""
    from bench.scenario.model import load_scenario
    from strategies.profile import load_profile

    check_host(host, allow_remote)
    token = read_token(token_env)
    world = scale_scenario(load_scenario(scenario, seed), time_scale)
    app = SimServer(world, epoch=epoch, profile=load_profile(profile) if profile is not None else None, token=token)

    def ready(url: str) -> None:
        print(
            f"syncbench serve: listening on {url} (scenario {world.name}, seed {world.seed}, "
            f"time scale {time_scale:g}, epoch {epoch}); Ctrl-C stops",
            flush=True,
        )

    serve(app, host, port, ready)
    _stderr_line("syncbench serve: stopped")


def _port(text: str) -> int:
    """argparse's type for --port: a TCP port, as `syncbench serve --port` takes (0: any free port)."""
    import argparse

    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"want an integer, not {text[:40]!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"want a TCP port between 0 and 65535, not {port}")
    return port


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.serve.server`: `syncbench serve` without loading the whole CLI (starts ~1 s sooner)."""
    import argparse

    class OneLine(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:  # one line naming the option, as `syncbench serve` gives
            _stderr_line(f"syncbench: error: {message}")
            sys.exit(2)

    parser = OneLine(prog="python -m bench.serve.server")
    parser.add_argument("--scenario", "-s", default="pms-1000")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=_port, default=8000)
    parser.add_argument("--allow-remote", action="store_true")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--epoch", choices=("startup", "first-request"), default="startup")
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--token-env")
    args = parser.parse_args(argv)
    try:
        run_server(
            args.scenario,
            seed=args.seed,
            host=args.host,
            port=args.port,
            allow_remote=args.allow_remote,
            time_scale=args.time_scale,
            epoch=args.epoch,
            profile=args.profile,
            token_env=args.token_env,
        )
    except (HarnessError, ValueError, OSError) as error:
        line = str(error).splitlines()[0] if str(error) else type(error).__name__
        _stderr_line(f"syncbench: error: {redact_errors(line)}")
        return 2
    return 0


class ServerProcess:
    """`syncbench serve` in a child process on a free loopback port, for harnesses and tests.

    A child process keeps the server's event loop off the client's GIL, as a real server
    would be; where allowed, it also runs at a raised priority, so that other work on the
    machine delays its timers less (a real server's timing does not depend on its clients'
    machine). Start-up is bounded; the log (stderr) goes to a file readable with `log_text`.
    """

    def __init__(
        self,
        scenario: str,
        *,
        seed: int | None = None,
        time_scale: float = 1.0,
        epoch: Epoch = "first-request",
        profile: Path | None = None,
        token_env: str | None = None,
        env: dict[str, str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.args = ["--scenario", scenario, "--port", "0", "--epoch", epoch, "--time-scale", repr(time_scale)]
        if seed is not None:
            self.args += ["--seed", str(seed)]
        if profile is not None:
            self.args += ["--profile", str(profile)]
        if token_env is not None:
            self.args += ["--token-env", token_env]
        self.env = env
        self.startup_timeout = startup_timeout
        self.base_url = ""
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._text: str | None = None
        self._log = tempfile.NamedTemporaryFile("w+", prefix="syncbench-serve-", suffix=".log", delete=False)

    def __enter__(self) -> ServerProcess:
        command = [sys.executable, "-m", "bench.serve.server", *self.args]
        self._proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **(self.env or {})},
        )
        with contextlib.suppress(OSError):  # best effort, needs privilege: see the class docstring
            pid = self._proc.pid
            os.setpriority(os.PRIO_PROCESS, pid, min(os.getpriority(os.PRIO_PROCESS, pid), -5))
        lines: queue.Queue[str] = queue.Queue()
        stdout = self._proc.stdout
        assert stdout is not None  # stdout=PIPE

        def read_lines() -> None:
            for line in stdout:
                lines.put(line)

        self._reader = threading.Thread(target=read_lines, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self.base_url:
            try:
                line = lines.get(timeout=max(0.0, min(0.1, deadline - time.monotonic())))
            except queue.Empty:
                line = ""
            if "listening on " in line:
                self.base_url = line.split("listening on ", 1)[1].split()[0]
            elif self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                last = (self.log_text().strip().splitlines() or ["no output"])[-1]
                raise HarnessError(f"the simulated server did not start: {last}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Ctrl-C the server (a clean shutdown), then kill it if it lingers."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=2)
        if proc is not None and proc.poll() is not None and self._text is None:
            self._text = self.log_text()  # keep the log, drop the file
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def log_text(self) -> str:
        """The server's log lines so far (all of them once it has stopped)."""
        if self._text is not None:
            return self._text
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")


if __name__ == "__main__":
    sys.exit(main())
