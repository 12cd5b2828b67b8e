"""websys: settings, renderers and the command line of the WebSys infrastructure program."""
