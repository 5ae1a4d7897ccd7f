"""``python -m lmnotes.recipes NAME``: see :mod:`lmnotes.recipes`."""

from lmnotes.recipes import main

raise SystemExit(main())
