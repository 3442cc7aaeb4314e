"""Text to speech: the Piper voice, the speaking pipeline, recording and local playback."""
