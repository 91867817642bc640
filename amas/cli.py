"""`amas`: the command line for AMAS's REST API and websockets (Typer + Rich).

    amas login --url https://amas.example.org        # asks for an API token, checks it, stores both
    amas submit investigation example.org --wait     # submit, follow live, print the result
    amas watch TASK                                  # live progress bars from the websocket
    amas tasks | result TASK | artefacts TASK | download ARTEFACT | agents | providers | health
    amas submit --playbook NAME TARGET [--investigation ID]
    amas investigations list|show|create|add-task|comment|export|import   amas playbooks list

Every command takes --json for scripts. Exit codes: 0 ok, 1 the task (or the service check)
failed, 2 usage or rejected input, 3 authentication/permission, 4 not found, 5 server
unreachable or failing. Credentials live in ~/.config/amas/config.json (mode 600), or come from
AMAS_URL / AMAS_TOKEN; AMAS_CONFIG names another file. This module imports no Django code.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table

TERMINAL = {"completed", "failed", "cancelled", "timed_out"}
TERMINAL_EVENTS = {f"task.{s}" for s in TERMINAL}

app = typer.Typer(help="AMAS from the command line.", no_args_is_help=True, add_completion=False)
console = Console()
errors = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    AUTH = 3
    NOT_FOUND = 4
    UNREACHABLE = 5


class CliError(Exception):
    def __init__(self, code: Exit, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- configuration -----------------------------------------------------------------------------


def config_path() -> Path:
    if os.environ.get("AMAS_CONFIG"):
        return Path(os.environ["AMAS_CONFIG"])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "amas" / "config.json"


def config_load() -> dict[str, str]:
    stored: dict[str, str] = {}
    path = config_path()
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except ValueError:
            raise CliError(Exit.USAGE, f"{path} is not valid JSON; run `amas login` again.") from None
    url = os.environ.get("AMAS_URL") or stored.get("url", "")
    token = os.environ.get("AMAS_TOKEN") or stored.get("token", "")
    if not url or not token:
        raise CliError(Exit.AUTH, "Not logged in: run `amas login` (or set AMAS_URL and AMAS_TOKEN).")
    return {"url": url.rstrip("/"), "token": token}


def config_save(url: str, token: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"url": url.rstrip("/"), "token": token}, handle, indent=2)
    os.chmod(path, 0o600)  # also when the file existed with looser permissions
    return path


# --- HTTP --------------------------------------------------------------------------------------


class Api:
    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "amas-cli"},
            timeout=timeout,
            trust_env=True,
        )

    @classmethod
    def from_config(cls) -> Api:
        config = config_load()
        return cls(config["url"], config["token"])

    def request(self, method: str, path: str, *, allow: tuple[int, ...] = (), **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(Exit.UNREACHABLE, f"Cannot reach {self.url}: {exc}") from None
        if response.status_code in allow or response.is_success:
            return response.json() if response.content else None
        raise _error(response)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def download(self, path: str, output: Path | None, *, force: bool) -> tuple[Path | None, int]:
        """Stream a download to `output` (None: the server's file name in the current directory;
        "-": stdout), following a presigned redirect (httpx drops our Authorization header when
        the redirect leaves our origin). Returns where it went and how many bytes."""
        try:
            with self.http.stream("GET", path, follow_redirects=True) as response:
                if not response.is_success:
                    response.read()
                    raise _error(response)
                if output is None:
                    output = Path(_attachment_name(response) or path.rstrip("/").split("/")[-2])
                to_stdout = str(output) == "-"
                if not to_stdout and output.exists() and not force:
                    raise CliError(Exit.USAGE, f"{output} exists; pass --force to overwrite it.")
                written = 0
                handle = sys.stdout.buffer if to_stdout else output.open("wb")
                try:
                    for chunk in response.iter_bytes():
                        handle.write(chunk)
                        written += len(chunk)
                finally:
                    if not to_stdout:
                        handle.close()
                return (None if to_stdout else output), written
        except httpx.HTTPError as exc:
            raise CliError(Exit.UNREACHABLE, f"Cannot reach {self.url}: {exc}") from None


def _attachment_name(response: httpx.Response) -> str:
    """The file name from Content-Disposition, reduced to a bare name (never a path)."""
    disposition = response.headers.get("Content-Disposition", "")
    name = ""
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename*" and value.lower().startswith("utf-8''"):
            from urllib.parse import unquote

            name = unquote(value[7:])
            break
        if key.lower() == "filename":
            name = value.strip('"')
    name = Path(name.replace("\\", "/")).name
    return "" if name in ("", ".", "..") else name


def _error(response: httpx.Response) -> CliError:
    detail = _detail(response)
    if response.status_code in (401, 403):
        return CliError(Exit.AUTH, f"{response.status_code}: {detail}")
    if response.status_code == 404:
        return CliError(Exit.NOT_FOUND, f"Not found: {detail}")
    if response.status_code >= 500:
        return CliError(Exit.UNREACHABLE, f"Server error {response.status_code}: {detail}")
    return CliError(Exit.USAGE, f"{response.status_code}: {detail}")


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)


def _emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _run(action: Any) -> None:
    """Run a command body, turning CliError into its message and exit code."""
    try:
        code = action()
    except CliError as exc:
        errors.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(int(exc.code)) from None
    raise typer.Exit(int(code or Exit.OK))


def _listing(
    rows: list[dict[str, Any]],
    *,
    as_json: bool,
    columns: tuple[str, ...],
    cells: Callable[[dict[str, Any]], tuple[str, ...]],
) -> Exit:
    """What a listing command prints: the rows as JSON with --json, else a table, a line a row."""
    if as_json:
        _emit_json(rows)
        return Exit.OK
    table = Table(*columns)
    for row in rows:
        table.add_row(*cells(row))
    console.print(table)
    return Exit.OK


def _answer(value: Any, *, as_json: bool, says: Callable[[Any], str]) -> Exit:
    """What a command that changes something prints: the server's answer as JSON with --json,
    else a line saying what happened."""
    if as_json:
        _emit_json(value)
    else:
        console.print(says(value))
    return Exit.OK


# --- following a task --------------------------------------------------------------------------


class ProgressView:
    """Rich progress bars: one for the task, one per step. Event lines are printed as well, so
    output captured by a non-terminal still shows what happened."""

    def __init__(self, task: dict[str, Any]) -> None:
        self.progress = Progress(
            TextColumn("{task.description}", justify="left"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[status]}"),
            console=console,
        )
        self.overall = self.progress.add_task(task.get("title") or "task", total=100, status=task["status"])
        self.steps: dict[int, TaskID] = {}

    def __enter__(self) -> ProgressView:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def snapshot(self, task: dict[str, Any]) -> None:
        self.progress.update(self.overall, completed=task.get("progress", 0), status=task["status"])
        for step in task.get("steps", []):
            self._step(step["step_id"], step["agent"], step.get("progress", 0), step["status"])

    def _step(self, step_id: int, agent: str, pct: int, status: str) -> None:
        if step_id not in self.steps:
            self.steps[step_id] = self.progress.add_task(f"  {agent}", total=100, status=status)
        self.progress.update(self.steps[step_id], completed=pct, status=status)

    def event(self, event: dict[str, Any]) -> None:
        kind, payload = event["type"], event.get("payload") or {}
        if kind.startswith("step."):
            status = kind.split(".", 1)[1]
            pct = 100 if status == "completed" else payload.get("progress", 0)
            self._step(payload.get("step_id", 0), payload.get("agent", "?"), pct, status)
            if "task_progress" in payload:
                self.progress.update(self.overall, completed=payload["task_progress"])
            message = payload.get("message") or payload.get("error") or ""
            self.progress.console.print(f"{payload.get('agent', '?'):<20} {status:<10} {pct:>3}% {message}")
        elif kind.startswith("task."):
            status = kind.split(".", 1)[1]
            if status == "completed":
                self.progress.update(self.overall, status=status, completed=100)
            else:
                self.progress.update(self.overall, status=status)
            self.progress.console.print(f"task {status}")


def follow(api: Api, task_id: str, *, on_snapshot: Any, on_event: Any, timeout: float) -> None:
    """Relay the task's websocket (snapshot, then events) until it ends; poll if the websocket
    cannot be used (a proxy without websocket support)."""
    from websockets.exceptions import ConnectionClosed, InvalidHandshake
    from websockets.sync.client import connect
    from websockets.typing import Origin

    scheme, rest = api.url.split("://", 1)
    ws_url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws/tasks/{task_id}/"
    deadline = time.monotonic() + timeout
    try:
        with connect(
            ws_url,
            additional_headers={"Authorization": f"Bearer {api.token}"},
            origin=Origin(api.url),  # Channels' origin check wants a host it serves
            open_timeout=10,
            proxy=None,
        ) as ws:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CliError(Exit.FAILED, f"Gave up waiting after {timeout:.0f}s; the task continues.")
                try:
                    message = json.loads(ws.recv(timeout=remaining))
                except TimeoutError:
                    continue
                if message.get("type") == "snapshot":
                    on_snapshot(message["task"])
                    if message["task"]["status"] in TERMINAL:
                        return
                elif message.get("type") == "event":
                    on_event(message["event"])
                    if message["event"]["type"] in TERMINAL_EVENTS:
                        return
    except (InvalidHandshake, ConnectionClosed, OSError) as exc:
        errors.print(f"[yellow]websocket unavailable ({exc}); polling instead[/yellow]")
    _poll(api, task_id, on_snapshot=on_snapshot, deadline=deadline)


def _poll(api: Api, task_id: str, *, on_snapshot: Any, deadline: float) -> None:
    while True:
        task = api.get(f"/api/v1/tasks/{task_id}")
        snapshot = {
            **task,
            "steps": [
                {
                    "step_id": s["id"],
                    "agent": s["agent_type"],
                    "progress": s["progress"],
                    "status": s["status"],
                }
                for s in task.get("steps", [])
            ],
        }
        on_snapshot(snapshot)
        if task["status"] in TERMINAL:
            return
        if time.monotonic() > deadline:
            raise CliError(Exit.FAILED, "Gave up waiting; the task continues.")
        time.sleep(1.0)


def _watch(api: Api, task_id: str, *, as_json: bool, timeout: float) -> dict[str, Any]:
    task = api.get(f"/api/v1/tasks/{task_id}")  # a clean 404/403 before the websocket
    if as_json:
        follow(
            api,
            task_id,
            on_snapshot=lambda t: print(json.dumps({"type": "snapshot", "task": t}), flush=True),
            on_event=lambda e: print(json.dumps({"type": "event", "event": e}), flush=True),
            timeout=timeout,
        )
    else:
        with ProgressView(task) as view:
            follow(api, task_id, on_snapshot=view.snapshot, on_event=view.event, timeout=timeout)
    return api.get(f"/api/v1/tasks/{task_id}")


def _status_code(task: dict[str, Any]) -> Exit:
    return Exit.OK if task["status"] == "completed" or task["status"] not in TERMINAL else Exit.FAILED


# --- commands ----------------------------------------------------------------------------------


@app.command()
def login(
    url: Annotated[str, typer.Option(prompt="AMAS URL", help="e.g. https://amas.example.org")],
    token: Annotated[str, typer.Option(prompt="API token", hide_input=True, envvar="AMAS_TOKEN")],
    as_json: JsonFlag = False,
) -> None:
    """Check an API token against the server and store URL and token (file mode 600)."""

    def action() -> Exit:
        me = Api(url, token).get("/api/v1/me")
        path = config_save(url, token)
        if as_json:
            _emit_json({"user": me, "config": str(path)})
        else:
            console.print(
                f"Logged in to {url} as [bold]{me['email']}[/bold] ({me['organization']}, {me['role']})."
            )
            console.print(f"Scopes: {', '.join(me['scopes'])}. Saved to {path}.")
        return Exit.OK

    _run(action)


def _parameters(values: list[str]) -> dict[str, dict[str, Any]]:
    parameters: dict[str, dict[str, Any]] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        agent, dot, name = key.partition(".")
        if not sep or not dot or not agent or not name:
            raise typer.BadParameter(f"{item!r}: expected agent.key=value", param_hint="--param")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        parameters.setdefault(agent, {})[name] = value
    return parameters


@app.command()
def submit(
    task_type: Annotated[
        str | None,
        typer.Argument(help="investigation, security_scan, file_analysis, custom, ... (not with --playbook)"),
    ] = None,
    target: Annotated[
        str | None, typer.Argument(help="What to work on: a domain, URL, hash, text ...")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="agent.key=value (JSON values)")
    ] = None,
    file: Annotated[list[Path] | None, typer.Option("--file", "-f", exists=True, dir_okay=False)] = None,
    priority: Annotated[int, typer.Option(min=1, max=10)] = 5,
    agent: Annotated[list[str] | None, typer.Option("--agent", "-a", help="Pin agents (repeatable)")] = None,
    title: Annotated[str | None, typer.Option(help="Default: TYPE TARGET")] = None,
    classification: Annotated[str, typer.Option(help="clear, green, amber, red")] = "amber",
    wait: Annotated[bool, typer.Option("--wait", help="Follow the task and print its result")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait follows the task")] = 3600.0,
    playbook: Annotated[
        str | None,
        typer.Option(
            "--playbook", help="Run a playbook's agents and parameters: amas submit --playbook NAME TARGET"
        ),
    ] = None,
    investigation: Annotated[
        str | None, typer.Option("--investigation", help="Submit inside this investigation (id)")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Submit a task (or run a playbook on a target with --playbook NAME)."""
    if playbook:
        if target is not None or param or agent or file:
            raise typer.BadParameter(
                "with --playbook give only the target (the playbook names the type, agents and parameters)",
                param_hint="--playbook",
            )
        target, task_type = task_type, None
    if not target:
        raise typer.BadParameter(
            "give the task type and the target (or --playbook NAME TARGET)", param_hint="TARGET"
        )
    parameters = _parameters(param or [])
    payload = {
        "title": title or f"{task_type} {target}"[:200],
        "task_type": task_type,
        "target": target,
        "parameters": parameters,
        "agents": agent or [],
        "priority": priority,
        "classification": classification,
    }

    def action() -> Exit:
        api = Api.from_config()
        if playbook:
            run = {
                "target": target,
                "title": title or "",
                "classification": classification,
                "priority": priority,
            }
            if investigation:
                run["investigation_id"] = investigation
            task = api.post(f"/api/v1/playbooks/{quote(playbook, safe='')}/run", json=run)
        elif investigation and not file:
            task = api.post(f"/api/v1/investigations/{quote(investigation, safe='')}/tasks/new", json=payload)
        elif investigation:
            raise CliError(
                Exit.USAGE,
                "--investigation with --file: submit the task, then `amas investigations add-task`.",
            )
        elif file:
            handles = [("files", (path.name, path.open("rb"))) for path in file]
            try:
                task = api.post("/api/v1/tasks", data={"payload": json.dumps(payload)}, files=handles)
            finally:
                for _, (_, handle) in handles:
                    handle.close()
        else:
            task = api.post("/api/v1/tasks", json=payload)
        if not wait:
            if as_json:
                _emit_json(task)
            else:
                console.print(f"Submitted [bold]{task['id']}[/bold] ({task['status']}).")
                console.print(f"Follow it: amas watch {task['id']}")
            return Exit.OK
        if not as_json:
            console.print(f"Submitted [bold]{task['id']}[/bold]; following it ...")
            task = _watch(api, task["id"], as_json=False, timeout=timeout)
        else:
            follow(api, task["id"], on_snapshot=lambda t: None, on_event=lambda e: None, timeout=timeout)
            task = api.get(f"/api/v1/tasks/{task['id']}")
        return _show_result(api, task, as_json=as_json)

    _run(action)


@app.command()
def watch(
    task_id: Annotated[str, typer.Argument(help="Task id")],
    timeout: Annotated[float, typer.Option(help="Seconds to follow")] = 3600.0,
    as_json: JsonFlag = False,
) -> None:
    """Follow a task live: a progress bar per step (--json: one JSON message per line)."""

    def action() -> Exit:
        task = _watch(Api.from_config(), task_id, as_json=as_json, timeout=timeout)
        if not as_json:
            console.print(f"Task {task['id']} {task['status']}.")
        return _status_code(task)

    _run(action)


def _show_result(api: Api, task: dict[str, Any], *, as_json: bool) -> Exit:
    results = api.get(f"/api/v1/tasks/{task['id']}/results")
    if as_json:
        _emit_json({"task": task, "results": results})
        return _status_code(task)
    console.rule(f"{task['title']} — {task['status']}")
    summary = task.get("summary") or {}
    if summary.get("text"):
        console.print(summary["text"])
    if task.get("error_message"):
        console.print(f"[red]{task['error_message']}[/red]")
    table = Table("agent", "status", "ms", "summary", title="Results")
    for row in results:
        table.add_row(
            row["agent"],
            row["status"],
            str(row["processing_time_ms"]),
            row["summary"] or row["error_message"],
        )
    console.print(table)
    return _status_code(task)


@app.command()
def result(task_id: Annotated[str, typer.Argument(help="Task id")], as_json: JsonFlag = False) -> None:
    """A task's summary and every agent's result."""

    def action() -> Exit:
        api = Api.from_config()
        return _show_result(api, api.get(f"/api/v1/tasks/{task_id}"), as_json=as_json)

    _run(action)


@app.command()
def tasks(
    status: Annotated[
        str | None, typer.Option(help="pending, queued, running, completed, failed, ...")
    ] = None,
    task_type: Annotated[str | None, typer.Option("--type", help="Task type")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 25,
    as_json: JsonFlag = False,
) -> None:
    """Recent tasks of your organisation."""

    def action() -> Exit:
        query = {
            "page_size": limit,
            **({"status": status} if status else {}),
            **({"task_type": task_type} if task_type else {}),
        }
        page = Api.from_config().get("/api/v1/tasks", params=query)
        return _listing(
            page["items"] if isinstance(page, dict) else page,
            as_json=as_json,
            columns=("id", "title", "type", "status", "progress", "prio", "created"),
            cells=lambda t: (
                t["id"][:8], t["title"], t["task_type"], t["status"], f"{t['progress']}%",
                str(t["priority"]), t["created_at"][:19],
            ),
        )  # fmt: skip

    _run(action)


@app.command()
def agents(as_json: JsonFlag = False) -> None:
    """Configured agents, their queue, load and health."""

    def action() -> Exit:
        def cells(a: dict[str, Any]) -> tuple[str, ...]:
            ok = a["health"]["ok"]
            state = "-" if ok is None else ("ok" if ok else "failing")
            return (
                a["name"], a["agent_type"], "yes" if a["enabled"] else "no", a["queue"],
                f"{a['slots_in_use']}/{a['concurrency_limit']}", state,
            )  # fmt: skip

        return _listing(
            Api.from_config().get("/api/v1/agents"),
            as_json=as_json,
            columns=("name", "type", "enabled", "queue", "slots", "health"),
            cells=cells,
        )

    _run(action)


@app.command()
def providers(as_json: JsonFlag = False) -> None:
    """AI providers, their circuit breakers and spend."""

    def action() -> Exit:
        return _listing(
            Api.from_config().get("/api/v1/providers"),
            as_json=as_json,
            columns=("name", "kind", "model", "enabled", "breaker", "calls 24h", "cost 24h"),
            cells=lambda p: (
                p["name"], p["kind"], p["model"], "yes" if p["enabled"] else "no",
                p["breaker_state"], str(p["calls_24h"]), str(p["cost_24h"]),
            ),
        )  # fmt: skip

    _run(action)


@app.command()
def artefacts(task_id: Annotated[str, typer.Argument(help="Task id")], as_json: JsonFlag = False) -> None:
    """Files attached to a task or written by its agents (download them with `amas download`)."""

    def action() -> Exit:
        return _listing(
            Api.from_config().get(f"/api/v1/tasks/{task_id}/artefacts"),
            as_json=as_json,
            columns=("id", "name", "bytes", "type", "from", "sha256"),
            cells=lambda a: (
                a["id"], a["name"], str(a["size"]), a["detected_type"],
                a["produced_by_agent"] or "upload", a["sha256"][:16],
            ),
        )  # fmt: skip

    _run(action)


@app.command()
def download(
    artefact_id: Annotated[str, typer.Argument(help="Artefact id (see `amas artefacts TASK`)")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; '-' for stdout. Default: its name")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Download an artefact, streamed to disk."""

    def action() -> Exit:
        path, size = Api.from_config().download(
            f"/api/v1/artefacts/{artefact_id}/download", output, force=force
        )
        if as_json and path is not None:
            _emit_json({"path": str(path), "bytes": size})
        elif path is not None:
            errors.print(f"Saved {size} bytes to {path}.")
        return Exit.OK

    _run(action)


@app.command()
def health(as_json: JsonFlag = False) -> None:
    """The service dependency graph; exit 1 when the server is not ready."""

    def action() -> Exit:
        report = Api.from_config().get("/health/services", allow=(503,))
        if as_json:
            _emit_json(report)
        else:
            colours = {"up": "green", "degraded": "yellow", "down": "red"}
            table = Table(
                "node", "state", "latency", "depends on", "detail", title=f"status: {report['status']}"
            )
            for node in report["nodes"]:
                colour = colours.get(node["state"], "white")
                table.add_row(
                    node["name"], f"[{colour}]{node['state']}[/{colour}]", f"{node['latency_ms']:.1f} ms",
                    ", ".join(node["depends_on"]), node["detail"],
                )  # fmt: skip
            console.print(table)
            console.print(f"ready: {'yes' if report['ready'] else 'no'}")
        return Exit.OK if report["ready"] else Exit.FAILED

    _run(action)


# --- case work: investigations and playbooks ---------------------------------------------------

investigations_app = typer.Typer(help="Investigations (cases) of your organisation.", no_args_is_help=True)
playbooks_app = typer.Typer(help="Playbooks: named, versioned sets of agents.", no_args_is_help=True)
app.add_typer(investigations_app, name="investigations")
app.add_typer(playbooks_app, name="playbooks")


def _case_path(investigation_id: str, rest: str = "") -> str:
    return f"/api/v1/investigations/{quote(investigation_id, safe='')}{rest}"


def _items(page: Any) -> list[dict[str, Any]]:
    return page["items"] if isinstance(page, dict) and "items" in page else page


@investigations_app.command("list")
def investigations_list(
    status: Annotated[str | None, typer.Option(help="open, in_progress, closed")] = None,
    tag: Annotated[str | None, typer.Option(help="Only those with this tag")] = None,
    assignee: Annotated[int | None, typer.Option(help="Only those assigned to this user id")] = None,
    search: Annotated[
        str | None, typer.Option("--search", "-q", help="In titles, descriptions, comments")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 25,
    as_json: JsonFlag = False,
) -> None:
    """Investigations, newest first."""

    def action() -> Exit:
        query: dict[str, Any] = {"page_size": limit}
        for key, value in (("status", status), ("tag", tag), ("assignee", assignee), ("q", search)):
            if value is not None:
                query[key] = value
        return _listing(
            _items(Api.from_config().get("/api/v1/investigations", params=query)),
            as_json=as_json,
            columns=("id", "title", "status", "tlp", "tags", "tasks", "created"),
            cells=lambda i: (
                i["id"][:8], i["title"], i["status"], i["classification"], ", ".join(i["tags"]),
                str(i["task_count"]), i["created_at"][:19],
            ),
        )  # fmt: skip

    _run(action)


@investigations_app.command("show")
def investigations_show(
    investigation_id: Annotated[str, typer.Argument(help="Investigation id")], as_json: JsonFlag = False
) -> None:
    """An investigation with its tasks, comments and entities."""

    def action() -> Exit:
        api = Api.from_config()
        case = api.get(_case_path(investigation_id))
        tasks = _items(api.get(_case_path(investigation_id, "/tasks"), params={"page_size": 100}))
        comments = _items(api.get(_case_path(investigation_id, "/comments"), params={"page_size": 100}))
        entities = api.get(_case_path(investigation_id, "/entities"))
        if as_json:
            _emit_json({"investigation": case, "tasks": tasks, "comments": comments, "entities": entities})
            return Exit.OK
        console.rule(f"{case['title']} — {case['status']} · TLP:{case['classification'].upper()}")
        if case["description"]:
            console.print(case["description"])
        console.print(f"Tags: {', '.join(case['tags']) or '-'}")
        console.print(f"Assignees: {', '.join(a['email'] for a in case['assignees']) or '-'}")
        table = Table("task", "title", "status", title="Tasks")
        for t in tasks:
            table.add_row(t["id"][:8], t["title"], t["status"])
        console.print(table)
        for c in comments:
            console.print(f"[bold]{c['author'] or '-'}[/bold] {c['created_at'][:16]}: {c['body']}")
        console.print(f"{len(entities)} entities.")
        return Exit.OK

    _run(action)


@investigations_app.command("create")
def investigations_create(
    title: Annotated[str, typer.Argument(help="Title")],
    description: Annotated[str, typer.Option(help="Description")] = "",
    classification: Annotated[str, typer.Option(help="clear, green, amber, red")] = "amber",
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="A tag (repeatable)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Open an investigation."""

    def action() -> Exit:
        body = {
            "title": title,
            "description": description,
            "classification": classification,
            "tags": tag or [],
        }
        return _answer(
            Api.from_config().post("/api/v1/investigations", json=body),
            as_json=as_json,
            says=lambda case: f"Created investigation [bold]{case['id']}[/bold] ({case['classification']}).",
        )

    _run(action)


@investigations_app.command("add-task")
def investigations_add_task(
    investigation_id: Annotated[str, typer.Argument(help="Investigation id")],
    task_id: Annotated[str, typer.Argument(help="Task id of your organisation")],
    as_json: JsonFlag = False,
) -> None:
    """Add an existing task (the investigation's TLP rises to the task's if that is stricter)."""

    def action() -> Exit:
        return _answer(
            Api.from_config().post(_case_path(investigation_id, "/tasks"), json={"task_id": task_id}),
            as_json=as_json,
            says=lambda task: f"Added task {task['id']} ({task['title']}).",
        )

    _run(action)


@investigations_app.command("comment")
def investigations_comment(
    investigation_id: Annotated[str, typer.Argument(help="Investigation id")],
    body: Annotated[str, typer.Argument(help="The comment; @email mentions a member")],
    as_json: JsonFlag = False,
) -> None:
    """Comment on an investigation."""

    def action() -> Exit:
        return _answer(
            Api.from_config().post(_case_path(investigation_id, "/comments"), json={"body": body}),
            as_json=as_json,
            says=lambda comment: (
                f"Commented (mentions {', '.join(comment['mentions'])})."
                if comment["mentions"]
                else "Commented."
            ),
        )

    _run(action)


@investigations_app.command("export")
def investigations_export(
    investigation_id: Annotated[str, typer.Argument(help="Investigation id")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; default stdout")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file")] = False,
    export_format: Annotated[
        str, typer.Option("--format", help="stix (a STIX 2.1 bundle) or misp (a MISP event)")
    ] = "stix",
) -> None:
    """The investigation as a STIX 2.1 bundle (JSON), or as a MISP event with --format misp."""

    def action() -> Exit:
        if export_format not in ("stix", "misp"):
            raise CliError(Exit.USAGE, f"--format is stix or misp, not {export_format!r}.")
        if output is not None and output.exists() and not force:
            raise CliError(Exit.USAGE, f"{output} exists; pass --force to overwrite it.")
        document = Api.from_config().get(_case_path(investigation_id, f"/{export_format}"))
        text = json.dumps(document, indent=2) + "\n"
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text)
            count = (
                len(document.get("objects", []))
                if export_format == "stix"
                else len(document["Event"]["Attribute"])
            )
            what = "STIX objects" if export_format == "stix" else "MISP attributes"
            errors.print(f"Saved {count} {what} to {output}.")
        return Exit.OK

    _run(action)


@investigations_app.command("import")
def investigations_import(
    investigation_id: Annotated[str, typer.Argument(help="Investigation id")],
    bundle_file: Annotated[
        Path, typer.Argument(help="A STIX 2.1 bundle (JSON)", exists=True, dir_okay=False)
    ],
    as_json: JsonFlag = False,
) -> None:
    """Import a STIX 2.1 bundle: its observables become the investigation's entities ("imported")."""

    def action() -> Exit:
        try:
            bundle = json.loads(bundle_file.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise CliError(Exit.USAGE, f"{bundle_file} is not JSON: {exc}") from None
        return _answer(
            Api.from_config().post(_case_path(investigation_id, "/stix"), json=bundle),
            as_json=as_json,
            says=lambda result: (
                f"Imported {result['imported']} observables ({result['skipped']} already known)."
            ),
        )

    _run(action)


@playbooks_app.command("list")
def playbooks_list(as_json: JsonFlag = False) -> None:
    """Your organisation's playbooks (run one: amas submit --playbook NAME TARGET)."""

    def action() -> Exit:
        return _listing(
            _items(Api.from_config().get("/api/v1/playbooks", params={"page_size": 100})),
            as_json=as_json,
            columns=("name", "version", "task type", "agents", "active"),
            cells=lambda p: (
                p["name"], str(p["version"]), p["task_type"], ", ".join(p["agents"]),
                "yes" if p["active"] else "no",
            ),
        )  # fmt: skip

    _run(action)


if __name__ == "__main__":
    app()
