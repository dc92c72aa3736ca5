"""The project's own error classes: problems with what the user gave us (a file, a config, an option).

The CLI catches :class:`MdmiError` only and prints its message as one line (exit status 2); any other
exception is a bug and keeps its traceback (``python -m mdmi --debug ...`` shows the traceback of a
user error too). Each class also derives from the builtin a caller would expect (``ValueError`` for
bad values, ``FileNotFoundError`` for a missing input, ``RuntimeError`` for data that cannot be made),
so library code may catch either. Messages name the problem and the fix.
"""

from __future__ import annotations


class MdmiError(Exception):
    """A user error: bad input, config or option. One line names the problem and the fix."""


class UsageError(MdmiError, ValueError):
    """An option, knob or config value the code cannot use (beyond what the schema checks)."""


class ConfigError(MdmiError, ValueError):
    """A config that fails the schema or a cross-field check."""


class MissingInput(MdmiError, FileNotFoundError):
    """A file the command needs does not exist (run the step that makes it, or fix the path)."""


class GenerationError(MdmiError, RuntimeError):
    """The requested data cannot be produced with the configured sizes or attempts."""
