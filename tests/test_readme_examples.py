"""Every HTTP request README.md and the documentation site (docs/**/*.md) show is sent to the app
as curl would send it, in reading order, and answers as the page says; so an example that drifts
from the API fails here, not on a newcomer's first try.

Reading order: README.md, then the site's pages in the order of mkdocs.yml's navigation (every
page of docs/ must be in it); one shell reads them all, so `$KEY` and the placeholders below carry
from page to page as they would for a reader who goes through the site.

How each page is read:
- fenced blocks tagged `bash`, `sh` or `console` (in `console`, only `$ ` lines are commands);
  every `curl` in them runs, unless a marker on the lines just above the block says why not:
  `<!-- example: not-run (reason) -->` for the whole block, or
  `<!-- example: not-run "text" (reason) -->` for the block's curls whose text holds `text`;
  a marker without a reason, or matching no curl, fails the test; a shell block with no curl
  in it (make, the command line, docker) needs a whole-block marker saying why it is not run
  (and, where it is, by which test);
- any other block (an answer shown, a payload, a layout) needs a marker too, but diagrams
  (`mermaid`), which tests/test_docs_site.py renders in Chromium;
- a curl must call the API at `http://127.0.0.1:8000` (what `make dev` serves); the test sends
  its method, headers, body (`-d`/`--data*`, `@file` included; form-encoded unless a
  Content-Type is given, as curl does) and form (`-F name=value`, `-F name=@file`), with curl's
  own `Accept: */*`; files are read relative to the repository;
- it expects a 2xx, or the statuses a comment starting with `->` gives, on its line or the comment
  lines after it (`# -> 409 unless ...`); every `"key":` that comment shows must be a key of the
  answer; `| grep PATTERN` after it: a line of the answer matches PATTERN;
- a 409 the README does not announce is tried again for up to 15 s: the workflow may not have
  reached the step the example is for yet (company details before the registry said no).

Where the placeholders come from, in reading order:
- `$KEY`: the API key of a fresh partner, made as `onboarding partner create` makes one;
- `<ID>`, `<ONBOARDING>`: the `id` of the latest `POST /v1/onboardings` answer;
- `<TOKEN>`: the token of the link in the invitation e-mail of the latest onboarding that sends
  one (immediate, or already sent), waited for;
- `<TEMPLATE>`: the latest `POST /v1/templates` answer's `id`, else the partner's default template;
- `<IMPORT>`, `<HOOK>`, `<CHECKLIST>`: the latest `POST /v1/imports`, `/v1/webhooks`,
  `/v1/checklists` answer's `id`;
- `<CLIENT>`: the `client_id` of onboarding `<ID>`, once its workflow has created the client;
- `<USER>`: the first user of the latest `GET /v1/users` answer, else the caller's own user.
A `scheduled_at` date the README gives that has passed is moved on by whole years: the README's
reader picks their own date, and the test must not expire with the calendar.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from api.deps import Services
from api.main import create_app
from core.settings import Settings
from devstack.registry_standin import RegistryStandin
from devstack.serving import serve_app
from devstack.smtp_sink import SmtpSink
from store.pool import Pool
from tests.eventually import eventually
from tests.factories import Tenant

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
API_ORIGIN = "http://127.0.0.1:8000"
SHELL_TAGS = {"bash", "sh", "shell", "console"}
# Drawn by the site, not run: tests/test_docs_site.py renders the diagrams in Chromium.
DRAWN_TAGS = {"mermaid"}
MARKER = re.compile(r'^<!--\s*example:\s*not-run\s*(?:"(?P<text>[^"]+)"\s*)?(?P<reason>.*?)\s*-->$')
PLACEHOLDER = re.compile(r"<([A-Z][A-Z_]*)>")
INVITATION_LINK = re.compile(r"/v1/invitations/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")
# The README's old first curl (before commit 37c7868): `client.name` instead of the model's
# first_name and last_name. Kept to show the runner refuses an example off the API.
OLD_FIRST_CURL = """\
curl -s -X POST http://127.0.0.1:8000/v1/onboardings \\
  -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \\
  -H 'Idempotency-Key: demo-0001' \\
  -d '{"client": {"name": "Boulangerie Dupont", "email": "anne@dupont.example", "language": "fr"}}'
# -> 202 {"id": "<ID>", "workflow_id": "onboarding-<ID>", "status": "SETTING_UP"}
"""


# ---- reading the README ---------------------------------------------------------------------


@dataclass
class Command:
    words: list[str]
    line: int  # in its page, where the command starts
    text: str  # as written, for messages and markers
    comments: list[str] = field(default_factory=list)  # its own, then the comment lines after it
    pipe: list[list[str]] = field(default_factory=list)  # commands after `|`
    source: str = "README.md"  # its page, relative to the repository


@dataclass
class Marker:
    text: str | None
    reason: str
    line: int
    used: bool = False


@dataclass
class Block:
    tag: str
    body: str
    line: int  # of the block's first line of content
    markers: list[Marker]
    source: str = "README.md"


def documents() -> list[Path]:
    """README.md, then every page of the site in the navigation's order (mkdocs.yml)."""
    nav = (ROOT / "mkdocs.yml").read_text().split("\nnav:\n", 1)[1]
    pages = re.findall(r"^\s+-\s+(?:[^\n:]+:\s+)?([\w/.-]+\.md)\s*$", nav, re.MULTILINE)
    return [README, *(DOCS / page for page in pages)]


def page_name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def fenced_blocks(text: str) -> Iterator[tuple[str, int, list[str]]]:
    """(tag, index of the opening fence's line, lines inside) of each fenced block."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        fence = re.match(r"^(`{3,})\s*(\S*)", lines[index])
        if not fence:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not lines[end].startswith(fence.group(1)):
            end += 1
        yield fence.group(2).lower(), index, lines[index + 1 : end]
        index = end + 1


def readme_blocks(text: str, source: str = "README.md") -> list[Block]:
    """The fenced shell blocks of a Markdown text, each with the markers just above it."""
    blocks: list[Block] = []
    lines = text.splitlines()
    for tag, start, body in fenced_blocks(text):
        if tag not in SHELL_TAGS:
            continue
        markers: list[Marker] = []
        above = start - 1
        while above >= 0 and (found := MARKER.match(lines[above].strip())):
            markers.append(Marker(found.group("text"), found.group("reason"), above + 1))
            above -= 1
        if tag == "console":
            body = [line[2:] if line.startswith("$ ") else "" for line in body]
        blocks.append(Block(tag, "\n".join(body) + "\n", start + 2, markers, source))
    return blocks


ARRAY = "\0{}\0"


class Shell:
    """Just enough of bash to read the README's commands as bash would: quotes, backslash
    continuations, comments, `$VAR` and `"${ARRAY[@]}"` expansion, `NAME=(...)` arrays, pipes,
    and `$(base64 -w0 FILE)` of a repository file. Other command substitutions and the rest are
    left as written (a curl using them will not parse)."""

    def __init__(self, variables: dict[str, str | list[str]], *, fixed: set[str]) -> None:
        self.variables = variables
        self.fixed = fixed  # set by the test, never by the README (`export KEY=onb_…`)

    def commands(self, block: Block) -> list[Command]:
        out: list[Command] = []
        text, pos, line = block.body, 0, block.line
        words: list[str] = []
        word: list[str] = []
        in_word = False
        pipeline: list[list[str]] = []
        start_pos, start_line, line_start = 0, line, 0
        last: Command | None = None
        attached = False

        def end_word() -> None:
            nonlocal word, in_word
            if in_word:
                joined = "".join(word)
                array = re.fullmatch("\0(\\w+)\0", joined)
                value = self.variables.get(array.group(1)) if array else None
                if isinstance(value, list):
                    words.extend(value)
                else:
                    words.append(re.sub("\0(\\w+)\0", r"${\1[@]}", joined))
            word, in_word = [], False

        def end_command() -> None:
            nonlocal words, pipeline, last
            end_word()
            if words:
                pipeline.append(words)
            if pipeline:
                first, *rest = pipeline
                command = Command(
                    first, start_line, text[start_pos:pos].strip(), pipe=rest, source=block.source
                )
                self._assign(command)
                out.append(command)
                last = command
            words, pipeline = [], []

        def expand() -> None:
            nonlocal pos
            encoded = re.match(r"\$\(base64 -w0 ([^)\s]+)\)", text[pos:])
            if encoded and (ROOT / encoded.group(1)).is_file():
                word.append(base64.b64encode((ROOT / encoded.group(1)).read_bytes()).decode())
                pos += encoded.end()
                return
            braced = re.match(r"\$\{(\w+)(\[@\])?\}", text[pos:])
            plain = re.match(r"\$(\w+)", text[pos:])
            if braced and braced.group(2):
                word.append(ARRAY.format(braced.group(1)))
                pos += braced.end()
            elif braced or plain:
                found = braced or plain
                assert found is not None
                value = self.variables.get(found.group(1))
                word.append(value if isinstance(value, str) else found.group(0))
                pos += found.end()
            else:
                word.append("$")
                pos += 1

        while pos < len(text):
            char = text[pos]
            if not words and not in_word and not pipeline and char not in " \t\n":
                start_pos, start_line = pos, line
            if char == "\\" and pos + 1 < len(text):
                if text[pos + 1] == "\n":
                    line += 1
                else:
                    word.append(text[pos + 1])
                    in_word = True
                pos += 2
            elif char == "'":
                close = text.index("'", pos + 1)
                word.append(text[pos + 1 : close])
                line += text.count("\n", pos, close)
                in_word, pos = True, close + 1
            elif char == '"':
                in_word, pos = True, pos + 1
                while text[pos] != '"':
                    if text[pos] == "\\" and text[pos + 1] in '"\\$`':
                        word.append(text[pos + 1])
                        pos += 2
                    elif text[pos] == "$":
                        expand()
                    else:
                        line += text[pos] == "\n"
                        word.append(text[pos])
                        pos += 1
                pos += 1
            elif char == "$":
                in_word = True
                expand()
            elif char == "#" and not in_word:
                newline = text.find("\n", pos)
                comment = text[pos + 1 : newline].rstrip()
                if words or pipeline:
                    end_command()  # a trailing comment belongs to the command it ends
                    attached = True
                if last is not None and attached:
                    last.comments.append(comment)
                pos = newline
            elif char in " \t":
                end_word()
                pos += 1
            elif char == "\n":
                if words or in_word or pipeline:
                    end_command()
                    attached = True  # the comment lines right below a command are about it
                elif not text[line_start:pos].strip():
                    attached = False  # a blank line ends them
                line += 1
                pos += 1
                line_start = pos
            elif char in "()":
                end_word()
                words.append(char)
                pos += 1
            elif char == "|" and text[pos : pos + 2] != "||":
                end_word()
                pipeline.append(words)
                words = []
                pos += 1
            elif char == ";" or text[pos : pos + 2] in ("&&", "||"):
                end_command()
                pos += 1 if char == ";" else 2
            else:
                word.append(char)
                in_word = True
                pos += 1
        end_command()
        return out

    def _assign(self, command: Command) -> None:
        """`NAME=(words)` and `[export] NAME=value`, so later commands expand them."""
        words = command.words[1:] if command.words[:1] == ["export"] else command.words
        if not words or not (name := re.fullmatch(r"(\w+)=(.*)", words[0], re.S)):
            return
        if name.group(1) in self.fixed:
            return
        if name.group(2) == "" and words[1:2] == ["("] and words[-1] == ")":
            self.variables[name.group(1)] = words[2:-1]
        elif len(words) == 1:
            self.variables[name.group(1)] = name.group(2)


# ---- curl, translated -----------------------------------------------------------------------


class NotTheApi(Exception):
    """A curl this runner cannot send to the API as written; it needs a not-run marker."""


@dataclass
class CurlRequest:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes | None = None
    form: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[str, tuple[str, bytes, str]]] = field(default_factory=list)


NO_ARGUMENT = set("sSfiLv") | {"--silent", "--show-error", "--fail", "--include", "--location"}
DATA = {"-d", "--data", "--data-raw", "--data-binary", "--data-ascii", "--json"}


def is_curl(command: Command) -> bool:
    return command.words[:1] == ["curl"]


def translate(words: list[str]) -> CurlRequest:
    """The request curl would send for these arguments (the options the README uses)."""
    method: str | None = None
    url: str | None = None
    headers: list[tuple[str, str]] = [("Accept", "*/*"), ("User-Agent", "curl/8.5.0")]
    data: list[str] = []
    as_json = False
    form: list[str] = []
    args = iter(words[1:])
    for arg in args:
        if arg in NO_ARGUMENT or (re.fullmatch(r"-[A-Za-z]+", arg) and set(arg[1:]) <= NO_ARGUMENT):
            continue
        if arg in ("-X", "--request"):
            method = next(args)
        elif arg in ("-H", "--header"):
            name, _, value = next(args).partition(":")
            headers = [(n, v) for n, v in headers if n.lower() != name.strip().lower()]
            headers.append((name.strip(), value.strip()))
        elif arg in DATA:
            value = next(args)
            if value.startswith("@"):
                if not (ROOT / value[1:]).is_file():
                    raise NotTheApi(f"{value[1:]} is not a file of the repository")
                raw = (ROOT / value[1:]).read_text()
                value = raw if arg != "-d" and arg != "--data" else raw.replace("\n", "")
            data.append(value)
            as_json = as_json or arg == "--json"
        elif arg in ("-F", "--form"):
            form.append(next(args))
        elif arg in ("-o", "--output", "-w", "--write-out"):
            next(args)
        elif arg == "--url":
            url = next(args)
        elif arg.startswith("-"):
            raise NotTheApi(f"curl option {arg} is not understood by this runner")
        else:
            url = arg
    if url is None or not url.startswith(API_ORIGIN + "/"):
        raise NotTheApi(f"{url!r} is not the API at {API_ORIGIN}")
    request = CurlRequest(method or ("POST" if data or form else "GET"), url, headers)
    names = {n.lower() for n, _ in headers}
    if data:
        request.body = "&".join(data).encode()
        if "content-type" not in names:
            kind = "application/json" if as_json else "application/x-www-form-urlencoded"
            request.headers.append(("Content-Type", kind))
    if form and not any(re.match(r"[^=]*=@", item) for item in form):
        raise NotTheApi("a form without a file: this runner sends -F only with one")
    for item in form:
        name, _, value = item.partition("=")
        if value.startswith("@"):
            path = ROOT / value[1:]
            if not path.is_file():
                raise NotTheApi(f"{value[1:]} is not a file of the repository")
            request.files.append((name, (path.name, path.read_bytes(), "application/octet-stream")))
        else:
            request.form.append((name, value))
    return request


def expected_statuses(command: Command) -> set[int] | None:
    """The statuses a `# -> NNN ...` comment announces (the text before any JSON)."""
    for comment in command.comments:
        if comment.strip().startswith("->"):
            head = re.split(r"[{\[]", comment, maxsplit=1)[0]
            return {int(code) for code in re.findall(r"\b[1-5]\d\d\b", head)}
    return None


def shown_keys(command: Command) -> set[str]:
    """The keys of the answer the `->` comment (and its continuation lines) shows."""
    shown: list[str] = []
    for comment in command.comments:
        if comment.strip().startswith("->"):
            shown = [comment]
        elif shown and comment.startswith("  "):
            shown.append(comment)  # the answer goes on, indented
        elif shown:
            break
    return set(re.findall(r'"(\w+)":', " ".join(shown)))


def all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in all_keys(v)}
    return set()


def later_by_years(value: str, now: datetime) -> str:
    """The same date and time, a whole number of years later, once it is in the future."""
    when = datetime.fromisoformat(value)
    while when <= now:
        when = when.replace(year=when.year + 1)
    return when.isoformat()


def move_dates_on(body: bytes, now: datetime) -> bytes:
    try:
        document = json.loads(body)
    except ValueError:
        return body

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: later_by_years(v, now) if k == "scheduled_at" and isinstance(v, str) else walk(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return json.dumps(walk(document)).encode()


# ---- running them ---------------------------------------------------------------------------


@dataclass
class Answered:
    method: str
    path: str
    status: int
    json: Any


class Runner:
    """Sends the README's requests one after another, filling placeholders from earlier answers."""

    def __init__(self, http: httpx.AsyncClient, key: str, smtp: SmtpSink | None = None) -> None:
        self.http = http
        self.smtp = smtp
        self.key = key
        self.answered: list[Answered] = []
        self.failures: list[str] = []
        self.ran = 0

    def shell(self) -> Shell:
        return Shell({"KEY": self.key}, fixed={"KEY"})

    async def run(self, command: Command) -> None:
        where = f"{command.source}:{command.line}: {command.text.splitlines()[0]}"
        try:
            await self._run(command)
        except (AssertionError, NotTheApi, httpx.HTTPError) as exc:
            self.failures.append(f"{where}\n    {exc}")
        self.ran += 1

    async def _run(self, command: Command) -> None:
        request = await self._filled(translate(command.words))
        expected = expected_statuses(command)
        answers: list[httpx.Response] = []

        async def answer() -> httpx.Response:
            answers.append(
                await self.http.request(
                    request.method,
                    request.url.removeprefix(API_ORIGIN),
                    headers=request.headers,
                    content=request.body,
                    data=dict(request.form) if request.files else None,
                    files=request.files or None,
                    follow_redirects=False,
                )
            )
            return answers[-1]

        # The workflow may not be at the step the example is for yet (details asked for, setup
        # complete): a 409 the README does not announce is tried again for a while.
        try:
            response = await eventually(
                answer,
                until=lambda r: not (r.status_code == 409 and 409 not in (expected or set())),
                what="an answer other than an unannounced 409",
                within=15,
                every=0.2,
            )
        except AssertionError:
            response = answers[-1]  # still 409: the checks below say how it differs
        body = response.text
        try:
            document = response.json()
        except ValueError:
            document = None
        path = urlsplit(request.url).path
        self.answered.append(Answered(request.method, path, response.status_code, document))
        wanted = f"one of {sorted(expected)}" if expected else "a 2xx"
        ok = response.status_code in expected if expected else response.is_success
        assert ok, f"answered {response.status_code}, README says {wanted}: {body[:600]}"
        missing = shown_keys(command) - all_keys(document)
        assert not missing, f"the README shows {sorted(missing)}, not in the answer: {body[:600]}"
        for piped in command.pipe:
            if piped[:1] == ["grep"]:
                pattern = piped[-1]
                assert any(re.search(pattern, line) for line in body.splitlines()), (
                    f"no line of the answer matches grep {pattern!r}"
                )
            elif piped[:1] == ["jq"]:
                assert document is not None, f"the answer is not JSON for jq: {body[:200]}"
            else:
                raise AssertionError(f"cannot check a pipe into {piped[0]!r}")

    async def _filled(self, request: CurlRequest) -> CurlRequest:
        names = set(PLACEHOLDER.findall(request.url))
        for name, value in [*request.headers, *request.form]:
            names |= set(PLACEHOLDER.findall(name + value))
        if request.body:
            names |= set(PLACEHOLDER.findall(request.body.decode()))
        values = {name: await self._value(name) for name in names}

        def fill(text: str) -> str:
            return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)

        body = request.body
        if body is not None:
            body = move_dates_on(fill(body.decode()).encode(), datetime.now(UTC))
        return CurlRequest(
            request.method,
            fill(request.url),
            [(n, fill(v)) for n, v in request.headers],
            body,
            [(n, fill(v)) for n, v in request.form],
            request.files,
        )

    def _latest_id(self, collection: str) -> str | None:
        for answer in reversed(self.answered):
            if (
                answer.method == "POST"
                and answer.path == collection
                and 200 <= answer.status < 300
                and isinstance(answer.json, dict)
                and answer.json.get("id")
            ):
                return str(answer.json["id"])
        return None

    async def _value(self, name: str) -> str:
        collections = {
            "ID": "/v1/onboardings",
            "ONBOARDING": "/v1/onboardings",
            "IMPORT": "/v1/imports",
            "HOOK": "/v1/webhooks",
            "CHECKLIST": "/v1/checklists",
        }
        if name in collections:
            found = self._latest_id(collections[name])
            assert found, f"<{name}> before any POST {collections[name]} answered an id"
            return found
        if name == "TEMPLATE":
            return self._latest_id("/v1/templates") or await self._default_template()
        if name == "TOKEN":
            return await self._invitation_token()
        if name == "CLIENT":
            return await self._client_id(await self._value("ID"))
        if name == "USER":
            return await self._user_id()
        raise AssertionError(
            f"the README uses <{name}>: say in tests/test_readme_examples.py where it comes from"
        )

    async def _user_id(self) -> str:
        for answer in reversed(self.answered):
            if answer.method == "GET" and answer.path == "/v1/users" and answer.status == 200:
                return str(answer.json["items"][0]["id"])
        me = await self.http.get("/v1/me", headers=self._auth)
        return str(me.json()["user"]["id"])

    async def _default_template(self) -> str:
        listed = await self.http.get("/v1/templates", headers=self._auth)
        [default] = [t for t in listed.json()["items"] if t["is_default"]]
        return str(default["id"])

    async def _invitation_token(self) -> str:
        started = [
            str(a.json["id"])
            for a in reversed(self.answered)
            if a.method == "POST" and a.path == "/v1/onboardings" and a.status == 202
        ]
        for onboarding_id in dict.fromkeys(started):
            if await self._invites(onboarding_id):
                return await self._token_for(onboarding_id)
        raise AssertionError("<TOKEN> before any onboarding sends its invitation")

    async def _invites(self, onboarding_id: str) -> bool:
        """Whether the onboarding's invitation is or will be on its way: immediate, or sent."""

        async def invitation() -> dict[str, Any]:
            view = await self.http.get(f"/v1/onboardings/{onboarding_id}", headers=self._auth)
            answer: dict[str, Any] = view.json()["invitation"] if view.is_success else {}
            return answer

        try:
            known = await eventually(
                invitation,
                until=lambda i: i.get("mode") is not None,  # known once the setup is resolved
                what="the invitation's mode",
                within=20,
                every=0.1,
            )
        except AssertionError:
            return False
        return bool(known["mode"] == "immediate" or known["sequence"] > 0)

    async def _token_for(self, onboarding_id: str) -> str:
        """The token in the newest invitation e-mail of this onboarding (its payload names it)."""
        assert self.smtp is not None, "<TOKEN> needs the SMTP server"
        smtp = self.smtp

        async def token() -> str | None:
            for received in reversed(list(smtp.handler.messages)):
                text = received.message.get_body(preferencelist=("plain",))
                link = INVITATION_LINK.search(text.get_content()) if text is not None else None
                if link and token_onboarding(link.group(1)) == onboarding_id:
                    return link.group(1)
            return None

        found = await eventually(
            token, what=f"<TOKEN>: onboarding {onboarding_id}'s invitation", within=20, every=0.1
        )
        assert found is not None
        return found

    async def _client_id(self, onboarding_id: str) -> str:

        async def client_id() -> str | None:
            view = await self.http.get(f"/v1/onboardings/{onboarding_id}", headers=self._auth)
            if view.is_success and view.json().get("client_id"):
                return str(view.json()["client_id"])
            return None

        found = await eventually(
            client_id, what=f"<CLIENT>: onboarding {onboarding_id}'s client", within=20, every=0.1
        )
        assert found is not None
        return found

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def token_onboarding(token: str) -> str:
    """The onboarding an invitation token is for: its payload is `<hex id>:<sequence>:<expiry>`."""
    payload = token.split(".")[0]
    claims = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    return str(uuid.UUID(hex=claims.split(":")[0]))


def marked(block: Block, command: Command) -> Marker | None:
    for marker in block.markers:
        if marker.text is None or marker.text in command.text:
            marker.used = True
            return marker
    return None


# ---- tests ----------------------------------------------------------------------------------


def _curls(blocks: list[Block]) -> Iterator[tuple[Block, Command]]:
    shell = Shell({"KEY": "onb_test"}, fixed={"KEY"})
    for block in blocks:
        for command in shell.commands(block):
            if is_curl(command):
                yield block, command


def unexplained_curls(text: str, source: str = "README.md") -> tuple[list[str], int]:
    """What in a page's text neither runs nor says why not; and how many curls would run."""
    blocks = readme_blocks(text, source)
    unexplained: list[str] = []
    runnable = 0
    for block, command in _curls(blocks):
        if marked(block, command) is not None:
            continue
        try:
            translate(command.words)
            runnable += 1
        except (NotTheApi, StopIteration) as exc:
            unexplained.append(f"{source}:{command.line}: {exc or 'an option lacks its value'}")
    with_curls = {id(block) for block, _ in _curls(blocks)}
    for block in blocks:
        if id(block) not in with_curls:
            # No request in it to run: the block as a whole says why it is not run.
            whole = [marker for marker in block.markers if marker.text is None]
            for marker in whole:
                marker.used = True
            if not whole:
                unexplained.append(
                    f"{source}:{block.line - 1}: a shell block with no request to run: "
                    "mark it not-run with a (reason)"
                )
        for marker in block.markers:
            if not re.fullmatch(r"\(.+\)", marker.reason):
                unexplained.append(f"{source}:{marker.line}: a not-run marker needs a (reason)")
            elif not marker.used:
                unexplained.append(f"{source}:{marker.line}: this marker matches no curl")
    attached = {marker.line for block in blocks for marker in block.markers}
    lines = text.splitlines()
    for tag, start, body in fenced_blocks(text):
        if tag in SHELL_TAGS:
            continue
        if any(re.match(r"\s*(\$ )?curl ", line) for line in body):
            unexplained.append(f"{source}:{start + 1}: a curl in a block tagged {tag!r}, not bash")
            continue
        if tag in DRAWN_TAGS:
            continue
        # Anything else shown (an answer, a file, a layout) is not run: its marker says why.
        above, reasons = start - 1, []
        while above >= 0 and (found := MARKER.match(lines[above].strip())):
            attached.add(above + 1)
            reasons.append(found.group("reason"))
            above -= 1
        if not reasons:
            unexplained.append(
                f"{source}:{start + 1}: a block tagged {tag!r} is neither run nor marked not-run "
                "with a (reason)"
            )
        elif not all(re.fullmatch(r"\(.+\)", reason) for reason in reasons):
            unexplained.append(f"{source}:{start}: a not-run marker needs a (reason)")
    for number, line in enumerate(lines, 1):
        if line.strip().startswith("<!-- example:") and number not in attached:
            unexplained.append(f"{source}:{number}: not a marker right above a block")
    return unexplained, runnable


def test_every_readme_curl_is_run_or_marked_with_a_reason() -> None:
    """Each curl in the README and on every page of the site is one the runner can send to the
    API, or is marked not-run with a reason; every marker has a reason and matches a curl of its
    block."""
    unexplained: list[str] = []
    runnable = 0
    for path in documents():
        found, count = unexplained_curls(path.read_text(), page_name(path))
        unexplained += found
        runnable += count
    assert not unexplained, "\n".join(unexplained)
    assert runnable >= 30  # the pages' requests are found at all


def test_every_page_of_the_site_is_read_by_the_examples_runner() -> None:
    """The runner reads every Markdown page under docs/ (through the navigation), so a page's
    examples cannot escape it by being left out."""
    read = {path for path in documents() if path != README}
    assert read == set(DOCS.rglob("*.md")), "pages not in mkdocs.yml's nav, or nav pages missing"


def test_shell_reads_commands_as_bash_would() -> None:
    """Continuations, quotes spanning lines, arrays, variables (not in single quotes), trailing
    and following `->` comments, and pipes are read as bash reads them."""
    body = """\
H=(-H "Authorization: Bearer $KEY" -H 'Content-Type: application/json')
curl -s "${H[@]}" -X POST http://127.0.0.1:8000/v1/plans \\
  -d '{"code": "$KEY",
       "name": "A"}'   # -> 201 {"code": "essentials",
#    "name": "Essentials"}
# the metrics (not indented: not the answer above)
curl -s http://127.0.0.1:8000/metrics | grep '^onboarding_by_status'

# -> 500 (a comment after a blank line belongs to no command)
"""
    shell = Shell({"KEY": "onb_x"}, fixed={"KEY"})
    assignment, plans, metrics = shell.commands(Block("bash", body, 10, []))
    assert assignment.words[:2] == ["H=", "("]
    assert shell.variables["H"] == [
        "-H",
        "Authorization: Bearer onb_x",
        "-H",
        "Content-Type: application/json",
    ]
    assert (plans.line, metrics.line) == (11, 16)
    request = translate(plans.words)
    assert request.method == "POST" and request.url == "http://127.0.0.1:8000/v1/plans"
    assert ("Authorization", "Bearer onb_x") in request.headers
    assert request.body == b'{"code": "$KEY",\n       "name": "A"}'
    assert expected_statuses(plans) == {201} and shown_keys(plans) == {"code", "name"}
    assert metrics.pipe == [["grep", "^onboarding_by_status"]]
    assert expected_statuses(metrics) is None


def test_unmarked_or_unreadable_examples_are_reported() -> None:
    """A curl to another server without a marker, a marker without a reason or matching nothing,
    a stray marker, a curl in an untagged block and a missing file are each reported."""
    text = """\
```bash
curl -s http://127.0.0.1:9465/metrics
```
<!-- example: not-run ":9464" -->
```sh
curl -s -F file=@no/such.csv http://127.0.0.1:8000/v1/imports
```
<!-- example: not-run "nothing" (a reason) -->

```
curl -s http://127.0.0.1:8000/healthz
```
<!-- example: not-run (because) -->
```console
$ curl -s -H 'Accept: application/json' http://127.0.0.1:8000/healthz
```
"""
    unexplained, runnable = unexplained_curls(text)
    assert unexplained == [
        "README.md:2: 'http://127.0.0.1:9465/metrics' is not the API at http://127.0.0.1:8000",
        "README.md:6: no/such.csv is not a file of the repository",
        "README.md:4: a not-run marker needs a (reason)",
        "README.md:10: a curl in a block tagged '', not bash",
        "README.md:8: not a marker right above a block",
    ]
    assert runnable == 0


@pytest.fixture
async def readme_api(
    settings: Settings, pool: Pool, client: Client
) -> AsyncIterator[httpx.AsyncClient]:
    """The API as `make dev` serves it (with /metrics), over the session's servers."""
    # The runner sends the pages' requests back to back and polls between some: a person
    # typing them never nears the per-key rate limit, which tests/api/test_rate_limit.py tests.
    served = settings.model_copy(
        update={
            "metrics_enabled": True,
            "api_rate_limit_per_second": 1000.0,
            "api_rate_limit_burst": 1000,
        }
    )
    app = create_app(served, services=Services(settings=served, pool=pool, temporal=client))
    async with serve_app(app) as http:
        yield http


async def test_readme_requests_answer_as_documented(
    readme_api: httpx.AsyncClient,
    worker: Worker,
    smtp_sink: SmtpSink,
    registry: RegistryStandin,
    tenant: Tenant,
) -> None:
    """Every curl of the README and the site's pages, in reading order, against the API with a
    worker: each answers the status its page shows (2xx unless it says otherwise), with the keys
    it shows."""
    runner = Runner(readme_api, tenant.key, smtp_sink)
    shell = runner.shell()
    for path in documents():
        for block in readme_blocks(path.read_text(), page_name(path)):
            for command in shell.commands(block):
                if is_curl(command) and marked(block, command) is None:
                    await runner.run(command)
    assert not runner.failures, "\n".join(runner.failures)
    assert runner.ran >= 30


async def test_an_example_off_the_api_fails(api_server: httpx.AsyncClient, tenant: Tenant) -> None:
    """The README's old first curl (`client.name`, which the model never had) is caught: 422
    naming the fields it lacks."""
    runner = Runner(api_server, tenant.key)
    block = Block("bash", OLD_FIRST_CURL, 1, [])
    [command] = runner.shell().commands(block)
    await runner.run(command)
    [failure] = runner.failures
    assert "answered 422, README says one of [202]" in failure
    assert "client.first_name" in failure and "client.name" in failure
