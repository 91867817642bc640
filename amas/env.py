"""One `env` object for all settings.

Values come from the process environment first, then `.env` in the project root, then
`var/stack.env`, which `make run` writes with the addresses of the embedded Postgres and Redis so
that `manage.py shell` in a second terminal talks to the same running stack.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("AMAS_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

for candidate in (BASE_DIR / ".env", VAR_DIR / "stack.env"):
    if candidate.exists():
        # read_env never overrides variables that are already set in the environment.
        environ.Env.read_env(str(candidate), overwrite=False)
