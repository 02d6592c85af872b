"""Video and audio stimuli: decoding, clip sampling, and the VGGish log-mel front end."""
