"""Audio in and out: decoding, resampling, pacing, WAV files and voice activity detection."""
