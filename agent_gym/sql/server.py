"""A private, throw-away MariaDB server owned by this Python process.

``acquire_server(dump_path)`` returns a running :class:`MariaDBServer` holding
the dump's databases and a read-only account for agents; environments in the
same process share it (reference counted) and ``release_server`` stops it when
the last user lets go. The server runs on a free loopback port with its data
directory in ``/dev/shm`` (when writable), is stopped on release, at exit, and by
a small reaper process if this process dies without cleaning up.

The first start for a dump builds a loaded data directory once
(``mariadb-install-db`` + loading the dump, a few seconds) and caches it under
``agent_gym.paths.cache_dir("sql")``; later starts copy that template (~0.1 s)
and start ``mariadbd`` (~0.5 s).
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent_gym.errors import BackendUnavailableError, GameLoadError, require
from agent_gym.paths import cache_dir
from agent_gym.sql.backends.base import MAX_VALUE_BYTES

#: Bump when the template layout (users, settings) changes.
TEMPLATE_VERSION = "5"
#: The read-only account agents use.
AGENT_USER = "agent_ro"
_SEARCH_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/libexec", "/usr/local/mysql/bin", "/opt/homebrew/bin")
_INSTALL_HINT = (
    "install MariaDB's server binaries (Debian/Ubuntu: `apt-get install -y --no-install-recommends "
    "mariadb-server-core`), or connect to a running MySQL/MariaDB server with "
    "InterCodeSQLEnv(backend='mysql', host=..., port=..., user=..., password=...), "
    "or use backend='sqlite' (no server needed)"
)
_SERVER_FLAGS = (
    "--no-defaults",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_general_ci",
    "--lower-case-table-names=1",
    "--innodb-buffer-pool-size=32M",
    "--innodb-log-file-size=4M",
    "--innodb-autoextend-increment=1",
    # Fixed optimizer statistics (computed once by ANALYZE TABLE when the template is
    # built): background recalculation samples random pages, which changes plans and
    # so the order of tied rows from one query run to the next.
    "--innodb-stats-auto-recalc=OFF",
    "--innodb-stats-persistent=ON",
)
_RUNTIME_FLAGS = (
    "--bind-address=127.0.0.1",
    "--skip-name-resolve",
    "--innodb-flush-log-at-trx-commit=0",
    "--innodb-doublewrite=0",
    "--innodb-flush-method=nosync",
    "--sync-frm=0",
    "--performance-schema=OFF",
    "--local-infile=0",
    # Values longer than this become NULL (base.MAX_VALUE_BYTES): bounds what one row can weigh.
    f"--max-allowed-packet={MAX_VALUE_BYTES}",
    # Nothing an agent does can outlive its session: no SET PASSWORD, XA PREPARE or other writes,
    # even where the read-only account would allow them (root is exempt; the env writes nothing).
    "--read-only",
    "--max-connections=500",
    "--skip-log-bin",
)
#: While the template is built (root loads the dump): large dump statements, writes allowed.
_BUILD_FLAGS = ("--max-allowed-packet=1G", "--read-only=OFF")

# Runs in a separate process: waits until our end of its stdin pipe closes (we
# exited or crashed), then stops the server and removes its data directory.
_REAPER = r"""
import os, shutil, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
pid, tmp = int(sys.argv[1]), sys.argv[2]
try:
    sys.stdin.buffer.read()
except BaseException:
    pass
def alive():
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
if alive():
    os.kill(pid, signal.SIGTERM)
    end = time.time() + 15
    while alive() and time.time() < end:
        time.sleep(0.05)
    if alive():
        os.kill(pid, signal.SIGKILL)
shutil.rmtree(tmp, ignore_errors=True)
"""


def find_binary(*names: str) -> str | None:
    """First of ``names`` found on PATH or in the usual sbin folders."""
    for name in names:
        path = shutil.which(name) or next(
            (str(Path(d) / name) for d in _SEARCH_DIRS if (Path(d) / name).is_file()), None
        )
        if path:
            return path
    return None


def mariadb_binaries() -> tuple[str, str]:
    """``(mariadbd, mariadb-install-db)`` paths, or :class:`BackendUnavailableError` saying what to install."""
    server = find_binary("mariadbd", "mysqld")
    install = find_binary("mariadb-install-db", "mysql_install_db")
    if not server or not install:
        raise BackendUnavailableError(
            f"backend='mysql' needs a MariaDB server but `mariadbd` was not found; {_INSTALL_HINT}"
        )
    return server, install


def mariadb_available() -> bool:
    """Whether a private server can be started here."""
    try:
        mariadb_binaries()
        return True
    except BackendUnavailableError:
        return False


def _tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _scratch_root(need_bytes: int = 200 << 20) -> str:
    """``/dev/shm`` when it is writable and has room (Docker's default is only 64 MB), else the temp dir."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        try:
            if shutil.disk_usage(shm).free > need_bytes + (64 << 20):
                return str(shm)
        except OSError:
            pass
    return tempfile.gettempdir()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _user_flag() -> list[str]:
    return ["--user=root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []


def _server_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    for tok in out.split():
        if tok[:1].isdigit():
            return tok.split("-")[0]
    return "unknown"


@dataclass
class MariaDBServer:
    """A running private server; ``admin_password`` belongs to ``root``, ``agent_password`` to :data:`AGENT_USER`."""

    port: int
    socket_path: str
    admin_password: str
    agent_password: str
    databases: list[str]
    scratch: str
    process: subprocess.Popen | None = None
    reaper: subprocess.Popen | None = None
    owner_pid: int = field(default_factory=os.getpid)
    host: str = "127.0.0.1"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def error_log_tail(self, n: int = 15) -> str:
        try:
            lines = Path(self.scratch, "error.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def stop(self) -> None:
        """Shut the server down and remove its files (only in the process that started it)."""
        if os.getpid() != self.owner_pid:
            return
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        reaper, self.reaper = self.reaper, None
        if reaper is not None:
            try:
                reaper.stdin.close()  # type: ignore[union-attr]
                reaper.wait(timeout=10)
            except Exception:
                pass
        shutil.rmtree(self.scratch, ignore_errors=True)


# ------------------------------------------------------------------ starting
def _launch(server_bin: str, datadir: Path, scratch: Path, port: int, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    args = [
        server_bin,
        *_SERVER_FLAGS,
        f"--datadir={datadir}",
        *_user_flag(),
        f"--socket={scratch / 'mysqld.sock'}",
        f"--port={port}",
        f"--pid-file={scratch / 'mysqld.pid'}",
        f"--log-error={scratch / 'error.log'}",
        f"--tmpdir={scratch / 'tmp'}",
        f"--secure-file-priv={scratch / 'nofiles'}",
        *_RUNTIME_FLAGS,
        *extra,
    ]
    (scratch / "tmp").mkdir(exist_ok=True)
    (scratch / "nofiles").mkdir(exist_ok=True)
    return subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _spawn_reaper(pid: int, scratch: Path) -> subprocess.Popen:
    """A process that stops ``pid`` and removes ``scratch`` once our end of its stdin closes (also when we crash)."""
    return subprocess.Popen(
        [sys.executable, "-c", _REAPER, str(pid), str(scratch)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _wait_ready(proc: subprocess.Popen, sock: Path, password: str, scratch: Path, timeout: float = 60.0):
    mysql = require("mysql.connector", "sql")
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = (
                (scratch / "error.log").read_text(errors="replace")[-2000:] if (scratch / "error.log").exists() else ""
            )
            raise BackendUnavailableError(
                f"the private MariaDB server exited during start (code {proc.returncode}):\n{log}"
            )
        if sock.exists():
            try:
                return mysql.connect(unix_socket=str(sock), user="root", password=password, connection_timeout=5)
            except mysql.Error as exc:
                last = exc
        time.sleep(0.03)
    proc.kill()
    raise BackendUnavailableError(f"the private MariaDB server did not answer within {timeout:.0f} s ({last})")


def _build_template(dump_path: Path | None, template: Path) -> None:
    """Install a fresh datadir, load the dump, create accounts, shut down, and store it at ``template``."""
    from agent_gym.sql.dump import mariadb_statements

    mysql_errors = require("mysql.connector", "sql")
    server_bin, install_bin = mariadb_binaries()
    scratch = Path(tempfile.mkdtemp(prefix="agent_gym_sqlbuild_", dir=_scratch_root()))
    reaper: subprocess.Popen | None = None
    try:
        datadir = scratch / "data"
        res = subprocess.run(
            [
                install_bin,
                *_SERVER_FLAGS,
                f"--datadir={datadir}",
                *_user_flag(),
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if res.returncode != 0:
            raise BackendUnavailableError(
                f"mariadb-install-db failed (code {res.returncode}):\n{res.stdout[-1500:]}\n{res.stderr[-1500:]}"
            )
        proc = _launch(server_bin, datadir, scratch, _free_port(), _BUILD_FLAGS)
        reaper = _spawn_reaper(proc.pid, scratch)  # stops the build server if we die midway
        try:
            cnx = _wait_ready(proc, scratch / "mysqld.sock", "", scratch)
            cur = cnx.cursor()
            admin_pw, agent_pw = secrets.token_hex(16), secrets.token_hex(16)
            databases: list[str] = []
            if dump_path is not None:
                text = Path(dump_path).read_text(encoding="utf-8", errors="replace")
                for db, stmt in mariadb_statements(text):
                    try:
                        cur.execute(stmt)
                        if cur.with_rows:
                            cur.fetchall()
                    except mysql_errors.Error as exc:
                        raise GameLoadError(
                            f"loading {dump_path} into MariaDB failed at a statement of database {db!r}: "
                            f"{exc} (statement starts {' '.join(stmt[:120].split())!r}); is it a MySQL dump?"
                        ) from exc
                    if db is not None and db.lower() not in databases:
                        databases.append(db.lower())
            if dump_path is not None and not databases:
                raise GameLoadError(
                    f"{dump_path} holds no databases: expected a MySQL dump with CREATE DATABASE / USE statements"
                )
            for db in databases:
                cur.execute(f"SHOW TABLES FROM `{db}`")
                for (table,) in cur.fetchall():
                    cur.execute(f"ANALYZE TABLE `{db}`.`{table}`")
                    cur.fetchall()
            cur.execute(
                "DELETE FROM mysql.global_priv WHERE User='' OR (User='root' AND Host NOT IN ('localhost','127.0.0.1'))"
            )
            cur.execute("FLUSH PRIVILEGES")
            for host in ("localhost", "127.0.0.1"):
                cur.execute(f"ALTER USER 'root'@'{host}' IDENTIFIED BY '{admin_pw}'")
                cur.execute(f"CREATE USER '{AGENT_USER}'@'{host}' IDENTIFIED BY '{agent_pw}'")
                for db in databases:
                    cur.execute(f"GRANT SELECT, SHOW VIEW ON `{db}`.* TO '{AGENT_USER}'@'{host}'")
            cur.execute("FLUSH PRIVILEGES")
            cnx.close()
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        (datadir / "agent_gym_template.json").write_text(
            json.dumps({"admin_password": admin_pw, "agent_password": agent_pw, "databases": databases})
        )
        os.chmod(datadir / "agent_gym_template.json", 0o600)
        template.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".building_", dir=template.parent))
        shutil.copytree(datadir, staging / "data")
        try:
            os.replace(staging / "data", template)
        except OSError:  # another process finished first; theirs is as good as ours
            pass
        shutil.rmtree(staging, ignore_errors=True)
    finally:
        if reaper is not None:
            reaper.stdin.close()  # type: ignore[union-attr]
            reaper.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)


def template_dir(dump_path: Path | None) -> Path:
    """Cache folder of the loaded datadir for ``dump_path`` (keyed by server version and dump hash)."""
    from agent_gym.sql.dump import dump_hash

    server_bin, _ = mariadb_binaries()
    key = dump_hash(dump_path) if dump_path is not None else "empty"
    return cache_dir("sql") / f"mariadb-{_server_version(server_bin)}-t{TEMPLATE_VERSION}-{key}"


def start_server(dump_path: Path | None) -> MariaDBServer:
    """Start a new private server holding ``dump_path``'s databases (building the cached template if needed)."""
    require("mysql.connector", "sql")
    server_bin, _ = mariadb_binaries()
    template = template_dir(dump_path)
    if not (template / "agent_gym_template.json").exists():
        _build_template(dump_path, template)
    meta = json.loads((template / "agent_gym_template.json").read_text())
    need = _tree_size(template) + (32 << 20)  # + room for temporary tables
    last_error: Exception | None = None
    for _attempt in range(3):
        scratch = Path(tempfile.mkdtemp(prefix="agent_gym_mariadb_", dir=_scratch_root(need)))
        shutil.copytree(template, scratch / "data")
        port = _free_port()
        proc = _launch(server_bin, scratch / "data", scratch, port)
        reaper = _spawn_reaper(proc.pid, scratch)
        server = MariaDBServer(
            port=port,
            socket_path=str(scratch / "mysqld.sock"),
            admin_password=meta["admin_password"],
            agent_password=meta["agent_password"],
            databases=list(meta["databases"]),
            scratch=str(scratch),
            process=proc,
            reaper=reaper,
        )
        try:
            _wait_ready(proc, scratch / "mysqld.sock", meta["admin_password"], scratch).close()
            return server
        except BackendUnavailableError as exc:  # e.g. the port was taken in between: try another
            last_error = exc
            server.stop()
    raise BackendUnavailableError(f"could not start the private MariaDB server: {last_error}")


# ------------------------------------------------------------------ sharing
_lock = threading.Lock()
_registry: dict[tuple[int, str], list] = {}  # (pid, key) -> [server, refcount]


def acquire_server(dump_path: Path | None) -> MariaDBServer:
    """A shared running server for ``dump_path`` in this process (start one if none); pair with :func:`release_server`."""
    key = (os.getpid(), str(Path(dump_path).resolve()) if dump_path is not None else "")
    with _lock:
        entry = _registry.get(key)
        if entry is not None and entry[0].alive():
            entry[1] += 1
            return entry[0]
        server = start_server(dump_path)
        _registry[key] = [server, 1]
        return server


def release_server(server: MariaDBServer) -> None:
    """Drop one reference; the last one stops the server."""
    with _lock:
        for key, entry in list(_registry.items()):
            if entry[0] is server:
                entry[1] -= 1
                if entry[1] > 0:
                    return
                del _registry[key]
                break
    server.stop()


@atexit.register
def _stop_all() -> None:
    with _lock:
        entries = [e for k, e in _registry.items() if k[0] == os.getpid()]
        _registry.clear()
    for server, _ in entries:
        try:
            server.stop()
        except Exception:
            pass
