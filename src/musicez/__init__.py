"""MusicEZ Auth: the authentication service in front of the MusicEZ recommendation API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("musicez")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
