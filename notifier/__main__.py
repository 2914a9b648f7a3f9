from notifier.cli.main import main

main()
