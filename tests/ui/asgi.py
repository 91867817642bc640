"""The ASGI application the browser tests serve with daphne: AMAS itself, plus static files
(the test settings run with DEBUG off, where Django does not serve them)."""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from amas.asgi import application as amas_application

application = ASGIStaticFilesHandler(amas_application)
