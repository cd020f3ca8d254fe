"""The HTTP front end: Falcon resources that queue commands and read
read models.  It never writes the event store."""
