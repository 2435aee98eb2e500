# One module per area; import each here so Django finds the models.
from .conversations import Conversation, Membership
from .events import ChatEvent, UserEvent, UserStream
from .groups import GroupBan, GroupJoinRequest, GroupPolicy
from .history import ChatBackup, DisappearingPeriod
from .invites import GroupInvite
from .messages import HiddenMessage, Message, Upload

__all__ = [
    "ChatBackup",
    "ChatEvent",
    "Conversation",
    "DisappearingPeriod",
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
