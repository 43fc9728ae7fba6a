"""MusicEZ Auth: the authentication service in front of the MusicEZ recommendation API."""
