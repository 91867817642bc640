from channels.auth import AuthMiddlewareStack


def WebsocketAuthMiddlewareStack(inner):  # noqa: N802 - mirrors channels' AuthMiddlewareStack
    """Session authentication for websockets; consumers authorise in connect()."""
    return AuthMiddlewareStack(inner)
