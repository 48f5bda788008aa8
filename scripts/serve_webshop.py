"""Serve the WebShop app for people and external agents: ``python -m scripts.serve_webshop``.

Open ``http://HOST:PORT/?session=fixed_0`` for goal 0 (any other session id
gets a goal chosen from its hash). The purchase page shows the reward.
"""

from __future__ import annotations

import argparse
import socket
import sys

from scripts.cli import command_prog


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=command_prog("serve_webshop"), description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="port (default 3000; 0 picks a free one)")
    parser.add_argument(
        "--data-dir", default=None, help="folder with official WebShop files (default: generated catalog)"
    )
    parser.add_argument("--num-products", type=int, default=None, help="generated catalog size (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="generated catalog seed")
    parser.add_argument(
        "--max-sessions", type=int, default=10000, help="sessions kept in memory (least recent evicted)"
    )
    return parser


def _check_can_listen(host: str, port: int) -> None:
    """Raise ``OSError`` when ``host:port`` cannot be bound (port taken, unknown host)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from werkzeug.serving import make_server

    from agent_gym.errors import AgentGymError
    from agent_gym.webshop.app import create_app
    from agent_gym.webshop.shop import load_shop

    try:
        shop = load_shop(args.data_dir, args.num_products, args.seed)
    except (AgentGymError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = create_app(shop, max_sessions=args.max_sessions)
    try:
        _check_can_listen(args.host, args.port)  # werkzeug would print its own message and sys.exit(1)
        server = make_server(args.host, args.port, app, threaded=True)
    except OSError as exc:
        print(
            f"error: cannot listen on {args.host}:{args.port}: {exc}; pick another --port or check --host",
            file=sys.stderr,
        )
        return 2
    print(
        f"WebShop ({shop.source}, {len(shop.products)} products, {len(shop.goals)} goals) on "
        f"http://{args.host}:{server.server_port}/?session=fixed_0  (Ctrl-C stops)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
