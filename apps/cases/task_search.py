"""Task tags and task comments are the case layer's data; registered here as task search
extensions so every task list (the API's `?tag=`/`?q=`, the dashboard's filters) finds them without
the tasks app knowing this one."""

from typing import Any

from django.db.models import Exists, OuterRef, Q

from apps.cases.models import Comment
from apps.tasks import hooks


def tag_condition(tag: str) -> Q:
    return Q(case_tags__tags__contains=[tag.strip().lower()])


def text_condition(text: str) -> Any:
    """A search finds a task by one of its comments or by a tag spelled as the search."""
    commented = Exists(Comment.objects.filter(task=OuterRef("pk"), body__icontains=text))
    return commented | tag_condition(text)


def register() -> None:
    hooks.register_task_search(tag=tag_condition, text=text_condition)
