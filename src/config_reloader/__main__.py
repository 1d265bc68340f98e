"""``python -m config_reloader`` runs the same CLI as the ``config-reloader`` script."""

from config_reloader.cli import main

raise SystemExit(main())
