"""``python -m webduo`` is the ``webduo`` command."""

from webduo.cli import main


main()
