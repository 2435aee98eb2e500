// The chat list: newest first, unread badges, live updates from the socket.
import { h, clear, avatar, timeShort, showError, icon } from "../dom.js";
import { loadConversations, conversations, subscribe, titleOf, previewOf, available } from "../chatstore.js";
import * as store from "../chatstore.js";

export async function render(view, _params, shell) {
  shell.setActions(
    h("a", { href: "#/group/new", "aria-label": "New group chat", title: "New group" }, icon("plus")),
  );
  const list = h("ul", { class: "list", "aria-label": "Conversations" });
  view.append(list);
  const draw = () => {
    if (!store.available) {
      clear(list, h("li", { class: "empty" }, "Chat is not available on this server yet."));
      return;
    }
    const items = conversations();
    if (!items.length) {
      clear(list, h("li", { class: "empty" }, "No chats yet. Start one from ", h("a", { href: "#/contacts" }, "Contacts"), "."));
      return;
    }
    clear(
      list,
      items.map((c) => {
        const title = titleOf(c);
        const unread = c.unread_count || 0;
        const last = c.last_message;
        return h(
          "li",
          {},
          h(
            "a",
            { class: "item conv", href: `#/c/${c.id}`, dataset: { id: c.id }, "aria-label": `${title}${unread ? `, ${unread} unread` : ""}` },
            h("span", { class: "avatar-wrap" }, avatar(title, c.avatar_url), unread ? h("span", { class: c.muted ? "badge muted-dot" : "badge", "aria-hidden": "true" }, unread > 99 ? "99+" : unread) : null),
            h(
              "span",
              { class: "body" },
              h("span", { class: "top" }, h("span", { class: "name" }, title, c.kind === "group" && c.member_count ? ` (${c.member_count})` : ""), h("span", { class: "time" }, timeShort(last?.created_at || c.last_message_at))),
              h("span", { class: "preview" }, previewOf(last && { ...last, conversation_kind: c.kind })),
            ),
          ),
        );
      }),
    );
  };
  const unsub = subscribe(draw);
  draw();
  try {
    // Show what we hold at once, then refresh from the server (cheap, and it also
    // corrects anything a missed event left stale).
    await loadConversations(true);
  } catch (e) {
    showError(e);
  }
  draw();
  void available;
  return unsub;
}
