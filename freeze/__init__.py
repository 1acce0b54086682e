"""freeze: snapshot, zero and sign the state of an election's counting system."""

__version__ = "0.1.0"
