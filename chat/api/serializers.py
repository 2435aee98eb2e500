"""Serializers of chat's REST edge. Names are globally unique (OpenAPI components)."""

from __future__ import annotations

from rest_framework import serializers

from ..services.messages import CLIENT_KINDS, MAX_MENTIONS, MAX_TEXT

BIGINT = 2**63 - 1


class ChatPublicUser(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    avatar_url = serializers.CharField()


class ChatMessageOut(serializers.Serializer):
    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    seq = serializers.IntegerField()
    client_id = serializers.CharField(allow_null=True)
    sender_id = serializers.IntegerField(allow_null=True)
    kind = serializers.CharField()
    text = serializers.CharField()
    payload = serializers.DictField()
    reply_to_seq = serializers.IntegerField(allow_null=True)
    mentions = serializers.ListField(child=serializers.IntegerField())
    created_at = serializers.CharField()
    edited_at = serializers.CharField(allow_null=True)
    recalled_at = serializers.CharField(allow_null=True)


class ChatMessagePage(serializers.Serializer):
    results = ChatMessageOut(many=True)
    next = serializers.CharField(allow_null=True)


class ConversationOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    title = serializers.CharField()
    avatar_url = serializers.CharField()
    announcement = serializers.CharField()
    peer = ChatPublicUser(allow_null=True)
    last_seq = serializers.IntegerField()
    last_message_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    role = serializers.CharField()
    muted = serializers.BooleanField()
    pinned = serializers.BooleanField()
    last_read_seq = serializers.IntegerField()
    unread_count = serializers.IntegerField()
    last_message = ChatMessageOut(allow_null=True, required=False)
    member_count = serializers.IntegerField(required=False)


class ConversationPage(serializers.Serializer):
    results = ConversationOut(many=True)
    next = serializers.CharField(allow_null=True)


class ConversationCreateInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["direct", "group"])
    user_id = serializers.IntegerField(min_value=1, max_value=BIGINT, required=False)
    title = serializers.CharField(max_length=100, required=False, allow_blank=True)
    avatar_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    member_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=BIGINT),
        required=False,
        max_length=1000,
    )

    def validate(self, attrs):
        if attrs["kind"] == "direct" and not attrs.get("user_id"):
            raise serializers.ValidationError({"user_id": ["A direct chat needs user_id."]})
        if attrs["kind"] == "group" and not (attrs.get("title") or "").strip():
            raise serializers.ValidationError({"title": ["A group needs a title."]})
        return attrs


class ConversationUpdateInput(serializers.Serializer):
    title = serializers.CharField(max_length=100, required=False, allow_blank=False)
    avatar_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    announcement = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    muted = serializers.BooleanField(required=False)
    pinned = serializers.BooleanField(required=False)


class ChatMemberOut(serializers.Serializer):
    user = ChatPublicUser()
    role = serializers.CharField()
    joined_at = serializers.DateTimeField()


class ChatMemberList(serializers.Serializer):
    results = ChatMemberOut(many=True)
    next = serializers.CharField(allow_null=True)


class ChatMembersAddInput(serializers.Serializer):
    user_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=BIGINT),
        min_length=1,
        max_length=500,
    )


class ChatMembersAdded(serializers.Serializer):
    added = serializers.ListField(child=serializers.IntegerField())


class MessageSendInput(serializers.Serializer):
    client_id = serializers.CharField(max_length=64)
    kind = serializers.ChoiceField(choices=sorted(CLIENT_KINDS))
    text = serializers.CharField(
        max_length=MAX_TEXT, required=False, allow_blank=True, trim_whitespace=False
    )
    payload = serializers.DictField(required=False)
    reply_to_seq = serializers.IntegerField(min_value=1, max_value=BIGINT, required=False)
    mentions = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=BIGINT),
        required=False,
        max_length=MAX_MENTIONS,
    )


class MessageEditInput(serializers.Serializer):
    text = serializers.CharField(max_length=MAX_TEXT, trim_whitespace=False)


class ReadReceiptInput(serializers.Serializer):
    seq = serializers.IntegerField(min_value=0, max_value=BIGINT)


class ReadReceiptOut(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    seq = serializers.IntegerField()


class ChatSyncOut(serializers.Serializer):
    events = serializers.ListField(child=serializers.DictField())
    cursor = serializers.CharField()
    has_more = serializers.BooleanField()
