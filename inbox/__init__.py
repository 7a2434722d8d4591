"""inbox: a chat-first omnichannel inbox and messaging bot for online shops."""

__version__ = "0.1.0"
