"""``python -m bot`` is the ``contexor`` command."""

from bot.cli import main

raise SystemExit(main())
