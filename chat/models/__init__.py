# One module per area; import each here so Django finds the models.
from .conversations import Conversation, Membership
from .events import ChatEvent, UserEvent, UserStream
from .groups import GroupBan, GroupJoinRequest, GroupPolicy
from .invites import GroupInvite
from .messages import HiddenMessage, Message, Upload

__all__ = [
    "ChatEvent",
    "Conversation",
    "GroupBan",
    "GroupInvite",
    "GroupJoinRequest",
    "GroupPolicy",
    "HiddenMessage",
    "Membership",
    "Message",
    "Upload",
    "UserEvent",
    "UserStream",
]
