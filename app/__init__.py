"""Stemweave desktop app (PySide6 + pyqtgraph + sounddevice); reaches the model only via core."""
