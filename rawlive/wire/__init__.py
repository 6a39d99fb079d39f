"""The wire: message types, the codec, message builders and endpoints. Knows no session."""
