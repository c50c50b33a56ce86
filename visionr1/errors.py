"""User-facing errors: raised for user mistakes, printed by the CLI as one line, exit code 2."""


class VisionR1Error(Exception):
    """A user mistake (bad path, malformed file, bad option) with a one-line explanation."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
