"""A registry maps a `type` string to a class. The database stores the string, never a class path.
Tests swap entries with `registered(...)`, never by patching production code."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    pass


class Registry(Generic[T]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._items: dict[str, type[T]] = {}

    def register(self, item: type[T]) -> type[T]:
        """Usable as a decorator. Registering the same class twice is harmless."""
        key = item.type  # type: ignore[attr-defined]
        existing = self._items.get(key)
        if existing is not None and existing is not item:
            raise RegistryError(f"{self.name}: type {key!r} is already registered by {existing!r}")
        self._items[key] = item
        return item

    def unregister(self, key: str) -> None:
        self._items.pop(key, None)

    def get(self, key: str) -> type[T]:
        try:
            return self._items[key]
        except KeyError:
            raise RegistryError(f"Unknown {self.name} type {key!r}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def types(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> list[type[T]]:
        return [self._items[k] for k in self.types()]

    @contextmanager
    def registered(self, *items: type[T]) -> Iterator[None]:
        """Register items for the duration of a block, restoring what was there before."""
        saved = dict(self._items)
        for item in items:
            self._items[item.type] = item  # type: ignore[attr-defined]
        try:
            yield
        finally:
            self._items = saved
