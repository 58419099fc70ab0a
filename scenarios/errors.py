"""The catalog's one error type (its own module, so that catalog.py and route.py share it)."""


class ScenarioError(ValueError):
    """A scenario name or definition is wrong; the message says what is allowed."""
