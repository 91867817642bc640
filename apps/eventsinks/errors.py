class PublishError(Exception):
    """A broker did not take a message (unreachable, refused, not confirmed)."""
