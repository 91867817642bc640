"""The dashboard's pages, one module per area. Thin views: parse, call a selector, a service or
apps.dashboard.context, render. An htmx request that targets a page section gets that section
only (a django-template-partials partial of the same template); live updates come over the
websockets (static/js/amas.js). Every view is behind apps.users.decorators.login_required."""
