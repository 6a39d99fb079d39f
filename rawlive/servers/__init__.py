"""The local servers: a shared base, the emulator, the replay server and the recording proxy."""
