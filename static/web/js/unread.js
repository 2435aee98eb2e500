// The red badge on the Chats tab: the sum of unread counts of unmuted conversations.
import { loadConversations, subscribe, totalUnread } from "./chatstore.js";

export function startUnread(shell) {
  subscribe(() => shell.setUnread(totalUnread()));
  loadConversations().catch(() => {});
}
