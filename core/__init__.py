"""Small pieces every app shares: the application error and the money field."""
