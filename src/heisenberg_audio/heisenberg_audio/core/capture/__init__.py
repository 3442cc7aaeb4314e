"""Where the audio comes from: microphone, file or topic, stamped and in the graph's format."""
