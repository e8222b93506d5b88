"""Starting the server: refuse an open host without a token, bind the port before anything else
(a port in use is a one-line error, not uvicorn's exit code 1, which rlit keeps for failed gates),
then let uvicorn serve until SIGINT/SIGTERM, finishing in-flight requests first."""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Callable

from rlit.errors import ConfigError
from rlit.rewards.composite import CompositeReward
from rlit.serving.app import build_app
from rlit.serving.protocol import ServeSettings

log = logging.getLogger("rlit.serving")


def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is a loopback address (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)


def check_host(host: str, token: str | None) -> None:
    """Localhost by default: binding anything else without a token would let the network score
    (and load) at will."""
    if token is None and not is_loopback(host):
        raise ConfigError(f"--host {host}: not a loopback address; serving beyond this machine needs --token "
                          "(or RLIT_SERVE_TOKEN) so only clients that know it can score")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0 = any free port), or a ConfigError naming it."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port}: must be between 0 and 65535")
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        raise ConfigError(f"--host {host} --port {port}: cannot listen there: {exc.strerror or exc}") from None
    return sock


def serve(reward: CompositeReward, settings: ServeSettings, host: str = "127.0.0.1", port: int = 8000,
          on_ready: Callable[[str], None] | None = None, drain_timeout: float = 30.0,
          max_concurrency: int | None = None, access_log: bool = False) -> None:
    """Serve ``reward`` until SIGINT/SIGTERM (uvicorn drains in-flight requests, then re-raises
    the signal, which the CLI turns into exit 130/143). ``on_ready(url)`` after the bind."""
    import uvicorn

    check_host(host, settings.token)
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{bound}"
    config = uvicorn.Config(build_app(reward, settings), log_level="warning", access_log=access_log,
                            timeout_graceful_shutdown=int(drain_timeout), limit_concurrency=max_concurrency,
                            lifespan="on")
    server = uvicorn.Server(config)
    if on_ready:
        on_ready(url)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
