"""What the commands share: the settings they run with and the ``--data-dir`` option."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from qa.settings import Settings


def settings(**overrides: object) -> Settings:
    """Settings from defaults, then QA_* variables, then the command's options (``None``:
    not given). Imported here, not at the top, so ``qa --help`` stays fast."""
    from qa.settings import load_settings

    return load_settings(**overrides)


def data_dir_option(f):
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="QA_DATA_DIR",
        default=None,
        help="Where the index lives (default .qa/ in the working directory).",
    )(f)
