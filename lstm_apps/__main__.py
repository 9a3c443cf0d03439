from lstm_apps.cli import main

raise SystemExit(main())
