from freeze.cli import main

raise SystemExit(main())
