"""Network intelligence used by the OSINT and Security agents: DNS, RDAP, web pages, TLS, HTTP
security headers, exposure and port checks, secret scanning. Everything that leaves the machine
goes through apps.core.egress (DNS goes to the configured resolvers)."""
