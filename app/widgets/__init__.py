"""The window's widgets: they show state and emit intents as signals; the window wires them."""
