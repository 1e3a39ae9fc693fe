"""One module per schema revision, oldest first; never edit a published revision."""
