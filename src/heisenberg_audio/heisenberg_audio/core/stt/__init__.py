"""Speech to text: voice activity, the end of the user's turn, Whisper, and voice barge-in."""
