"""`python -m ddpm_lite train|sample|convert|evaluate`: see `ddpm_lite.cli`."""

from .cli import main

raise SystemExit(main())
