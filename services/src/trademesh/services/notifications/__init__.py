"""The notifications service: price alerts on the live tick stream, trade notices, the inbox, email."""
