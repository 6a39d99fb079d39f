"""The session's rules, sans I/O, for both roles: frames and times in, state and decisions out."""
