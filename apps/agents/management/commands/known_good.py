"""Known-good data out of the box: `manage.py known_good --dpkg --yara` imports the installed
Debian packages' MD5s as a known-good hash set and installs AMAS's shipped YARA rules."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.agents.forensics.rules import hash_set_import_dpkg, yara_builtin_install


class Command(BaseCommand):
    help = "Import dpkg's md5sums as a known-good hash set and/or install the shipped YARA rules."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dpkg", action="store_true", help="Import /var/lib/dpkg/info/*.md5sums.")
        parser.add_argument("--dpkg-info-dir", default="/var/lib/dpkg/info")
        parser.add_argument("--yara", action="store_true", help="Install or update the shipped YARA rules.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not (options["dpkg"] or options["yara"]):
            raise CommandError("Say what to load: --dpkg, --yara or both.")
        if options["dpkg"]:
            info_dir = Path(options["dpkg_info_dir"])
            if not info_dir.is_dir():
                raise CommandError(f"{info_dir} is not a directory (not a Debian-based host?).")
            hash_set, counts = hash_set_import_dpkg(info_dir=info_dir)
            self.stdout.write(
                f"{hash_set.name}: {counts['added']} added, {counts['duplicate']} already there, "
                f"{counts['invalid']} invalid lines"
            )
        if options["yara"]:
            rule = yara_builtin_install()
            self.stdout.write(f"YARA rule set {rule.name} at version {rule.version}")
