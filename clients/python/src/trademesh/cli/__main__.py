from trademesh.cli.app import main

main()
