"""Serve the FiftyOne App for a dataset (remote mode: the URL is printed, no browser is opened)."""

from __future__ import annotations

from visionr1.errors import VisionR1Error
from visionr1.review.db import import_fiftyone


def dataset_url(address: str, port: int, name: str) -> str:
    from urllib.parse import quote

    return f"http://{address}:{port}/datasets/{quote(name)}"


def launch(name: str, port: int, address: str):
    """Start the App server on ``address:port`` with dataset ``name``; returns the session."""
    fo = import_fiftyone()
    names = fo.list_datasets()
    if name not in names:
        known = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "") if names else "none yet"
        raise VisionR1Error(f"no FiftyOne dataset named '{name}' (datasets: {known}); build one with "
                            "`visionr1 review eval RUN_DIR` or `visionr1 review data MIX_DIR`")
    try:
        return fo.launch_app(fo.load_dataset(name), port=port, address=address, remote=True, auto=False)
    except OSError as exc:
        raise VisionR1Error(f"cannot serve the App on {address}:{port}: {exc}") from None
