"""Officers' web app (Flask); built in the web issue."""
