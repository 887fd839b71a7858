"""The one exception type a pipeline step raises for a problem the user can fix."""


class PipelineError(Exception):
    """A step failed for a reason the message names, with what to do about it."""
