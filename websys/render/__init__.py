"""Pure renderers: settings in, the text of a file a service runs with out. No Pulumi in here."""
