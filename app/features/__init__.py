"""The main window's features, one module each (mixins of :class:`app.main_window.MainWindow`)."""
