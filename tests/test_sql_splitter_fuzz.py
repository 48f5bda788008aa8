"""Property-based fuzz of the statement lexer/splitter against a real MariaDB server.

Texts are ``SELECT`` followed by random pieces built to confuse a splitter:
string literals holding quotes, escapes, ``;`` and comment markers, comments
of every kind (``#``, ``--`` with all sorts of next characters, ``/* */``,
executable ``/*! */`` / ``/*M! */`` with versions the server runs or skips,
nested comments), stray quotes, backslashes and ``;``. From our lexer alone the
test predicts what the server must do: run exactly one statement whose only
code is string literals, and return their concatenation; or reject the text.
The server (multi-statements disabled, as the env connects) must agree every
time. Any disagreement is a place where the env and the server read a
statement differently, e.g. a ``;`` the splitter thinks is inside a comment.
"""

from __future__ import annotations

import os
import re

import pytest

from agent_gym.sql.server import mariadb_available

pytestmark = [
    pytest.mark.mariadb,
    pytest.mark.skipif(not mariadb_available(), reason="mariadbd not installed (apt-get install mariadb-server-core)"),
]

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from agent_gym.sql.sqltext import _lex, server_version_id, split_statements  # noqa: E402
from agent_gym.sql.tasks import ASSETS_DIR  # noqa: E402

_ESC = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}

PIECES = [
    "'a'",
    "'b;c'",
    "'\\''",
    "'it''s'",
    '"q"',
    '"\\""',
    '"say ""hi"""',
    "' -- '",
    "'/*'",
    "'*/'",
    "'#'",
    "'\\\\'",
    "'\\%_\\x'",
    "`x`",
    "/* c */",
    "/* ; */",
    "/* ' */",
    "/*/ */",
    "/**/",
    "/*! 'e' */",
    "/*!12345 'v' */",
    "/*!999999 ' */",
    "/*!99999 'm' */",
    "/*!50700 'm' */",
    "/*!50699 'n' */",
    "/*M!100000 'k' */",
    "/*M!50700 'k' */",
    "/*M!999999 'k' */",
    "/*!'n' */",
    "/*!-- */\n'x' */",
    "/*!999999 /* ' */ ; */",
    "/*!999999 /* /* */ ' */",
    "/*M! 'z' */",
    "-- c\n",
    "--\t'\n",
    "--\x0b'\n",
    "--\x01;\n",
    "--\x7f'\n",
    "--'\n",
    "--\u00a0'\n",
    "# ;'\n",
    "-- ;",
    "#'",
    ";",
    "'",
    '"',
    "`",
    "\\",
    "*/",
    "/*",
    "/*!",
    "/*M!",
    "\n",
    " ",
    "--",
    "#",
    "-",
    "/",
    "*",
    "'é'",
    "/*!101119 'cur' */",
    "/*!101120 'next' */",
    "/*M!101119 'cur' */",
]
#: Random filler: no letters or digits (they would make aliases and numbers the model does not know).
CHARS = "';\"`\\/*-#\n "


def _decode(body: str, quote: str) -> str:
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_ESC.get(nxt, "\\" + nxt if nxt in "%_" else nxt))
            i += 2
        elif c == quote and body[i + 1 : i + 2] == quote:
            out.append(quote)
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _literal(piece: str) -> str | None:
    """Value of a complete ``'...'`` / ``"..."`` literal; ``None`` if unterminated or not a string."""
    q = piece[0]
    if q not in "'\"" or len(piece) < 2 or piece[-1] != q:
        return None
    i = 1
    while i < len(piece) - 1:  # the closing quote must not be escaped or doubled
        if piece[i] == "\\":
            i += 2
        elif piece[i] == q:
            i += 2
        else:
            i += 1
    if i != len(piece) - 1:
        return None
    return _decode(piece[1:-1], q)


ERROR = "<error>"


def _closed_identifier(piece: str) -> bool:
    """Whether a backtick identifier ends with its own closing backtick (``` `` ``` inside is one backtick)."""
    i = 1
    while i < len(piece):
        if piece[i] == "`":
            if i + 1 < len(piece) and piece[i + 1] == "`":
                i += 2
                continue
            return i == len(piece) - 1
        i += 1
    return False


def predict(text: str, exec_version: int) -> object:
    """What the server must return for ``text`` according to our lexer (:data:`ERROR` for an error).

    The code our lexer leaves (outside comments) must be ``SELECT`` then
    ``-* LIT (OP -* LIT)* [`alias`]`` with LIT one or more adjacent string
    literals and OP one of ``- * /``: literal strings concatenate; with
    operators the literals (none starts with a digit) count as 0, so the value
    is 0, or NULL once there is a division (by 0).
    """
    # the server drops trailing ';' and white space before it parses (sql_parse.cc, alloc_query)
    text = text.rstrip("; \t\n\r\x0b\x0c")
    tokens: list[tuple[str, str]] = []  # ("lit", value) / ("op", "-") / ("alias", name) / ("code", text)
    in_exec = False
    after_semicolon = False
    for kind, i, j in _lex(text, exec_version):
        piece = text[i:j]
        if kind == "comment":
            if piece.startswith("/*") and not (len(piece) >= 4 and piece.endswith("*/")):
                return ERROR  # unterminated comment
            continue
        if kind == "marker":
            in_exec = piece != "*/"
            continue
        if kind == "code" and piece == ";":
            if after_semicolon:
                return ERROR  # ';;' followed by more text (trailing ones were dropped above)
            after_semicolon = True
            continue
        if after_semicolon:
            if kind != "code" or piece.strip(" \t\n\r\x0b\x0c"):
                return ERROR  # a second statement
            continue
        if kind == "quoted":
            if piece[0] == "`":
                if not _closed_identifier(piece):
                    return ERROR
                tokens.append(("alias", piece))
                continue
            lit = _literal(piece)
            if lit is None:
                return ERROR
            if tokens and tokens[-1][0] == "lit":
                tokens[-1] = ("lit", tokens[-1][1] + lit)
            else:
                tokens.append(("lit", lit))
        else:
            spaced = piece.replace("-", " - ").replace("*", " * ").replace("/", " / ")
            for word in re.split(r"[ \t\n\r\x0b\x0c]+", spaced):  # MariaDB's white space (not U+00A0)
                if not word:
                    continue
                tokens.append(("op", word) if word in ("-", "*", "/") else ("code", word.lower()))
    if in_exec or not tokens or tokens[0] != ("code", "select"):
        return ERROR
    tokens = tokens[1:]
    if tokens and tokens[-1][0] == "alias":
        tokens = tokens[:-1]
    # -* LIT (OP -* LIT)*
    pos, lits, ops = 0, [], []
    while True:
        while pos < len(tokens) and tokens[pos] == ("op", "-"):
            ops.append("-")
            pos += 1
        if pos >= len(tokens) or tokens[pos][0] != "lit":
            return ERROR
        lits.append(tokens[pos][1])
        pos += 1
        if pos == len(tokens):
            break
        if tokens[pos][0] != "op":
            return ERROR
        ops.append(tokens[pos][1])
        pos += 1
    if not ops:
        return lits[0]
    return None if "/" in ops else 0


@pytest.fixture(scope="module")
def mariadb():
    mysql = pytest.importorskip("mysql.connector")
    from mysql.connector.constants import ClientFlag

    from agent_gym.sql.server import acquire_server, release_server

    server = acquire_server(ASSETS_DIR / "dbs.sql")
    cnx = mysql.connect(
        host=server.host,
        port=server.port,
        user="root",
        password=server.admin_password,
        client_flags=[-ClientFlag.MULTI_STATEMENTS],
        autocommit=True,
        use_pure=True,
        charset="utf8mb4",
        collation="utf8mb4_general_ci",
    )
    yield mysql, cnx, server_version_id(cnx.get_server_info())
    cnx.close()
    release_server(server)


def _server_value(mysql, cnx, text: str) -> object:
    cur = cnx.cursor()
    try:
        cur.execute(text)
        rows = cur.fetchall()
    except mysql.Error:
        return ERROR
    finally:
        cur.close()
    assert len(rows) == 1 and len(rows[0]) == 1, (text, rows)
    value = rows[0][0]
    return value.decode() if isinstance(value, (bytes, bytearray)) else value


texts = st.lists(st.one_of(st.sampled_from(PIECES), st.text(alphabet=CHARS, max_size=6)), max_size=10).map(
    lambda parts: "SELECT " + "".join(parts)
)


@settings(
    max_examples=int(os.environ.get("AGENT_GYM_FUZZ_EXAMPLES", "800")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=texts)
def test_lexer_reads_statements_like_mariadb(mariadb, text):
    mysql, cnx, version = mariadb
    expected = predict(text, version)
    got = _server_value(mysql, cnx, text)
    assert got == expected, f"server returned {got!r}, our lexer predicts {expected!r} for {text!r}"
    if expected is not ERROR:
        assert len(split_statements(text, version)) == 1


@pytest.mark.parametrize(
    "text,value",
    [
        ("SELECT 'a' /*!999999 ' */ ; SELECT 'b' -- '", ERROR),  # the splitter must see the ';'
        ("SELECT 'a' /*!12345 'b' */", "ab"),
        ("SELECT 'a' /*!50700 'm' */", "a"),  # MySQL 5.7+ versions are skipped by MariaDB ...
        ("SELECT 'a' /*M!50700 'm' */", "am"),  # ... unless marked /*M!
        ("SELECT 'a' --\x0b '\n", "a"),  # '--' + any control character starts a comment
        ("SELECT 'a' /*!999999 /* x */ 'b' */", "a"),  # a skipped versioned comment holds one nested comment
    ],
)
def test_known_cases(mariadb, text, value):
    mysql, cnx, version = mariadb
    assert predict(text, version) == value
    assert _server_value(mysql, cnx, text) == value
