"""What a run tells the outside: logs (stderr and JSON lines), Prometheus metrics, notifications, and the
redaction that keeps secrets out of all three."""
