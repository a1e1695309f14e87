"""Rendering: reports (Markdown and HTML) and every PNG plot."""
