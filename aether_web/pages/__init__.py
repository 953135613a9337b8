"""One module per page; each owns its state and its on_load loader."""
