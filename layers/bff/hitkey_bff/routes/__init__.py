"""One module per route, each a few lines: the flow and its declared policy (``handler``).

``functions/<route>/app.py`` imports the module's ``handler``; see CONTRIBUTING.md to add one.
"""
