"""``python -m app ...`` runs the ``qa`` command line."""

from app.cli import main

main(prog_name="qa")
