from cosmo_assets.cli import main

raise SystemExit(main())
