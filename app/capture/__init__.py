"""Where images come from: the screen, a window, a camera, a file."""
