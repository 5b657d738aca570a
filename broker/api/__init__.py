"""The HTTP API under ``/api/v1``: plain SQL on the hot path, problem+json on every refusal."""
