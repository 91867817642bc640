"""The New task form and the agent parameter forms built from each agent's JSON schema.

Forms only parse and check shape; task_create validates the rest (agents, parameters, schedule)
and its ValidationFailed errors are put back next to the field they name."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS

from apps.agents.registry import agent_registry
from apps.core.exceptions import ApplicationError
from apps.core.vocabulary import Classification, TaskType, task_types
from apps.tasks.models import TaskStatus

AGENT_MODES = [("auto", "Automatic: the decision engine chooses"), ("manual", "Choose agents myself")]
SCHEDULES = [("once", "Run once, now"), ("interval", "Every N seconds"), ("cron", "On a cron schedule")]


def agent_choices() -> list[tuple[str, str]]:
    return [(a.type, a.label) for a in agent_registry.items() if not a.aggregator]


class TaskForm(forms.Form):
    task_type = forms.ChoiceField(choices=task_types.choices, initial=TaskType.INVESTIGATION)
    target = forms.CharField(
        max_length=2048,
        required=False,
        help_text="A domain, IP, URL, e-mail, hash, CVE or free text. Leave empty for files only.",
    )
    title = forms.CharField(max_length=200, required=False, help_text="Defaults to the type and target.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=20000, required=False)
    priority = forms.IntegerField(min_value=1, max_value=10, initial=5, help_text="10 is the most urgent.")
    classification = forms.ChoiceField(
        choices=Classification.choices,
        initial=Classification.AMBER,
        widget=forms.RadioSelect,
        help_text="Agents and AI providers only see tasks up to the level they are allowed.",
    )
    agent_mode = forms.ChoiceField(
        choices=AGENT_MODES, initial="auto", widget=forms.RadioSelect, label="Agents"
    )
    agents = forms.MultipleChoiceField(
        choices=(), required=False, widget=forms.CheckboxSelectMultiple, label="Agents to run"
    )
    schedule = forms.ChoiceField(choices=SCHEDULES, initial="once", widget=forms.RadioSelect)
    every_seconds = forms.IntegerField(min_value=1, required=False, label="Every (seconds)")
    crontab = forms.CharField(
        max_length=100,
        required=False,
        label="Cron expression",
        help_text="minute hour day-of-month month day-of-week, e.g. 0 6 * * 1",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["agents"]).choices = agent_choices()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("agent_mode") == "manual" and not data.get("agents"):
            self.add_error("agents", "Choose at least one agent, or let the decision engine choose.")
        if data.get("schedule") == "interval" and not data.get("every_seconds"):
            self.add_error("every_seconds", "How many seconds between runs?")
        if data.get("schedule") == "cron" and not (data.get("crontab") or "").strip():
            self.add_error("crontab", "Enter a cron expression.")
        return data

    def task_title(self) -> str:
        data = self.cleaned_data
        if data.get("title"):
            return data["title"]
        label = task_types.label(data["task_type"])
        target = (data.get("target") or "").strip()
        return (f"{label}: {target}" if target else label)[:200]

    def chosen_agents(self) -> list[str]:
        return (
            list(self.cleaned_data.get("agents") or [])
            if self.cleaned_data.get("agent_mode") == "manual"
            else []
        )

    def schedule_spec(self) -> dict[str, Any] | None:
        kind = self.cleaned_data.get("schedule")
        if kind == "interval":
            return {"every_seconds": self.cleaned_data["every_seconds"]}
        if kind == "cron":
            return {"crontab": self.cleaned_data["crontab"].strip()}
        return None

    def field_for_service_error(self, field: str) -> str | None:
        """The form field a task_create error names (`schedule.every_seconds` -> every_seconds)."""
        mapping = {
            "task_type": "task_type",
            "classification": "classification",
            "priority": "priority",
            "agents": "agents",
            "schedule.every_seconds": "every_seconds",
            "schedule.crontab": "crontab",
            "schedule": "schedule",
        }
        return mapping.get(field)


# ---------------------------------------------------------------------- agent parameters


def _schema_type(prop: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The property's own schema and whether null is allowed (Optional[X] is anyOf [X, null])."""
    if "$ref" in prop:
        prop = {
            **defs.get(prop["$ref"].rsplit("/", 1)[-1], {}),
            **{k: v for k, v in prop.items() if k != "$ref"},
        }
    options = prop.get("anyOf") or prop.get("oneOf")
    if options:
        non_null = [o for o in options if o.get("type") != "null"]
        nullable = len(non_null) < len(options)
        if len(non_null) == 1:
            inner, _ = _schema_type(non_null[0], defs)
            merged = {**inner, **{k: v for k, v in prop.items() if k not in ("anyOf", "oneOf")}}
            return merged, nullable
        return {**prop, "type": "json"}, nullable
    return prop, False


class JSONTextField(forms.CharField):
    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg}.") from None


class LinesField(forms.CharField):
    """A list of strings, one per line."""

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _field_for(name: str, prop: dict[str, Any], defs: dict[str, Any]) -> tuple[forms.Field, Any]:
    schema, _nullable = _schema_type(prop, defs)
    kind = schema.get("type")
    default = schema.get("default", prop.get("default"))
    common: dict[str, Any] = {
        "required": False,
        "label": schema.get("title") or name.replace("_", " ").capitalize(),
        "help_text": schema.get("description", ""),
    }
    if "enum" in schema:
        choices = [("", "—")] + [(str(v), str(v)) for v in schema["enum"]]
        return forms.ChoiceField(choices=choices, initial=default, **common), default
    if kind == "boolean":
        return forms.BooleanField(initial=bool(default), **common), default
    if kind == "integer":
        bounds = {
            k: schema[s] for k, s in (("min_value", "minimum"), ("max_value", "maximum")) if s in schema
        }
        return forms.IntegerField(initial=default, **bounds, **common), default
    if kind == "number":
        bounds = {
            k: schema[s] for k, s in (("min_value", "minimum"), ("max_value", "maximum")) if s in schema
        }
        return forms.FloatField(initial=default, **bounds, **common), default
    if kind == "string":
        extra = {"max_length": schema["maxLength"]} if "maxLength" in schema else {}
        return forms.CharField(initial=default, **extra, **common), default
    if kind == "array" and (schema.get("items") or {}).get("type") == "string":
        common["help_text"] = (common["help_text"] + " One per line.").strip()
        return (
            LinesField(widget=forms.Textarea(attrs={"rows": 3}), initial="\n".join(default or []), **common),
            default,
        )
    common["help_text"] = (common["help_text"] + " JSON.").strip()
    initial = json.dumps(default) if default is not None else ""
    return JSONTextField(widget=forms.Textarea(attrs={"rows": 2}), initial=initial, **common), default


class AgentParamsForm(forms.Form):
    """One agent's parameters. Only values that differ from the schema's defaults are sent, so an
    untouched fieldset adds nothing to the task."""

    def __init__(self, agent: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", f"param-{agent.type}")
        super().__init__(*args, **kwargs)
        self.agent = agent
        self.defaults: dict[str, Any] = {}
        schema = agent.parameter_schema()
        defs = schema.get("$defs", {})
        for name, prop in (schema.get("properties") or {}).items():
            field, default = _field_for(name, prop, defs)
            self.fields[name] = field
            self.defaults[name] = default

    def changed_parameters(self) -> dict[str, Any]:
        out = {}
        for name, value in self.cleaned_data.items():
            # An emptied field means "the default", never "null" (checkboxes are always a value).
            if value is None or value == "" or (value == [] and not self.defaults.get(name)):
                continue
            if value == self.defaults.get(name):
                continue
            out[name] = value
        return out


def agent_param_forms(data: Any = None) -> list[AgentParamsForm]:
    """One form per agent that takes parameters. A form is bound only when the page rendered it
    (its `param-<type>-shown` marker came back): an absent checkbox would otherwise read as
    "off" and override a default the user never saw."""
    found = []
    for agent in agent_registry.items():
        if agent.aggregator or not agent.Params.model_fields:
            continue
        shown = data is not None and f"param-{agent.type}-shown" in data
        found.append(AgentParamsForm(agent, data=data if shown else None))
    return found


def agent_parameters(param_forms: list[AgentParamsForm]) -> dict[str, Any]:
    """Task parameters keyed by agent type, from the bound, valid forms."""
    return {pf.agent.type: p for pf in param_forms if pf.is_bound and (p := pf.changed_parameters())}


def param_forms_valid(param_forms: list[AgentParamsForm]) -> bool:
    return all(pf.is_valid() for pf in param_forms if pf.is_bound)


# ------------------------------------------------------------------------------ task list


SORTS = {
    "-created": ("-created_at", "-id"),
    "created": ("created_at", "id"),
    "-priority": ("-priority", "-created_at"),
    "priority": ("priority", "-created_at"),
    "title": ("title", "-created_at"),
    "-title": ("-title", "-created_at"),
    "status": ("status", "-created_at"),
    "-status": ("-status", "-created_at"),
}


class TaskFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *TaskStatus.choices])
    task_type = forms.ChoiceField(
        required=False, choices=lambda: [("", "Any type"), *task_types.choices()], label="Type"
    )
    priority_min = forms.IntegerField(required=False, min_value=1, max_value=10, label="Priority from")
    priority_max = forms.IntegerField(required=False, min_value=1, max_value=10, label="Priority to")
    agent = forms.ChoiceField(required=False, choices=(), label="Agent")
    tag = forms.CharField(required=False, max_length=64, label="Tag")
    created_after = forms.DateField(
        required=False, label="Created from", widget=forms.DateInput(attrs={"type": "date"})
    )
    created_before = forms.DateField(
        required=False, label="Created to", widget=forms.DateInput(attrs={"type": "date"})
    )
    sort = forms.ChoiceField(required=False, choices=[(k, k) for k in SORTS], widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "Any agent"), *((t, t) for t, _ in agent_choices())]
        cast(forms.ChoiceField, self.fields["agent"]).choices = choices

    @staticmethod
    def _day_start(day: date | None, *, plus_days: int = 0) -> datetime | None:
        if day is None:
            return None
        return datetime.combine(day + timedelta(days=plus_days), time.min, tzinfo=UTC)

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for selectors.TaskFilters (invalid fields are ignored)."""
        data = (
            self.cleaned_data
            if self.is_valid()
            else {k: v for k, v in getattr(self, "cleaned_data", {}).items()}
        )
        return {
            "q": (data.get("q") or "").strip() or None,
            "status": data.get("status") or None,
            "task_type": data.get("task_type") or None,
            "priority_min": data.get("priority_min"),
            "priority_max": data.get("priority_max"),
            "agent": data.get("agent") or None,
            "tag": (data.get("tag") or "").strip() or None,
            "created_after": self._day_start(data.get("created_after")),
            "created_before": self._day_start(data.get("created_before"), plus_days=1),
        }

    def ordering(self) -> tuple[str, ...]:
        sort = self.cleaned_data.get("sort") if self.is_valid() else None
        return SORTS.get(sort or "-created", SORTS["-created"])


# ------------------------------------------------------------------------------ error summary


def _anchor(bound: Any) -> str:
    """The id a summary link jumps to: the input itself (the first option of a choice group)."""
    return str(bound.id_for_label or bound.auto_id)


def mark_invalid(form: forms.Form) -> None:
    """aria-invalid and aria-describedby on the inputs of fields with errors, so a screen reader
    reads the message with the field (the message is rendered by _field.html with this id)."""
    for name in form.errors:
        if name == NON_FIELD_ERRORS or name not in form.fields:
            continue
        bound = form[name]
        described = [f"{bound.auto_id}_error"] + ([f"{bound.auto_id}_helptext"] if bound.help_text else [])
        form.fields[name].widget.attrs.update(
            {"aria-invalid": "true", "aria-describedby": " ".join(described)}
        )


def put_error(form: forms.Form, exc: ApplicationError, fallback: str | None = None) -> None:
    """A service's refusal next to the field it names (`extra["field"]`), else at `fallback`, else
    on the form; the field is then marked invalid like one Django's own validation refused."""
    field = str(exc.extra.get("field") or "")
    field = {"assignee_ids": "assignees"}.get(field, field)
    target = field if field in form.fields else (fallback if fallback in form.fields else None)
    form.add_error(target, exc.message)
    mark_invalid(form)


def error_summary(
    form: forms.Form, param_forms: list[AgentParamsForm], file_error: str | None
) -> list[dict[str, str]]:
    """Every error on the page as {href, text} for the summary at the top of the form."""
    entries = [{"href": "#task-form", "text": str(e)} for e in form.non_field_errors()]
    for name, errors in form.errors.items():
        if name in form.fields:
            bound = form[name]
            entries += [{"href": f"#{_anchor(bound)}", "text": f"{bound.label}: {e}"} for e in errors]
    if file_error:
        entries.append({"href": "#id_files", "text": f"Files: {file_error}"})
    for pf in param_forms:
        if not pf.is_bound or not pf.errors:
            continue
        for name, errors in pf.errors.items():
            if name in pf.fields:
                bound = pf[name]
                href, label = f"#{_anchor(bound)}", f"{pf.agent.label}, {bound.label}"
            else:
                href, label = f"#params-{pf.agent.type}", pf.agent.label
            entries += [{"href": href, "text": f"{label}: {e}"} for e in errors]
    return entries
