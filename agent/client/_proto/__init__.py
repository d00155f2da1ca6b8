"""Generated protobuf classes (scripts/gen-proto). Do not edit."""
