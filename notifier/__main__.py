from notifier.cli import main

main()
