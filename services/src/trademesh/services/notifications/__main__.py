from trademesh.services.notifications.server import main

main()
