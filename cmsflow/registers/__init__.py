"""Registers every CEMS keeps (T/CECA-G §8.2 e), DB14/T 2970 §5–8, DB44/T 1944 §4–8)."""
