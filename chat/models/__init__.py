# One module per area; import each here so Django finds the models.
from .conversations import Conversation, Membership
from .events import ChatEvent
from .messages import HiddenMessage, Message, Upload

__all__ = ["ChatEvent", "Conversation", "HiddenMessage", "Membership", "Message", "Upload"]
