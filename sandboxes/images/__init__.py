"""Image recipes: shell scripts that fill an empty folder with a root file system (see images.py)."""
