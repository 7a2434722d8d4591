"""The bot engine above the channels: intents, flows (status, catalog, cart, checkout), hand-off."""

from inbox.bots.config import BotConfigError, import_config, load_config
from inbox.bots.engine import BotEngine
from inbox.bots.handoff import hand_back

__all__ = ["BotConfigError", "BotEngine", "hand_back", "import_config", "load_config"]
