"""Infrastructure helpers for Relay (local stand-ins for hosted services, deploy tooling)."""
