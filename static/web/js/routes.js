// Hash routes -> lazily loaded screens. Each screen module exports render(view, params, shell).
export const routes = [
  [/^\/login$/, () => import("./screens/login.js"), { title: "Sign in", name: "login" }],
  [/^\/chats$/, () => import("./screens/chats.js"), { title: "Chats", name: "chats" }],
  [/^\/c\/(\d+)$/, () => import("./screens/conversation.js"), { title: "Chat", name: "conversation", back: true, className: "convo" }],
  [/^\/contacts$/, () => import("./screens/contacts.js"), { title: "Contacts", name: "contacts" }],
  [/^\/group\/new$/, () => import("./screens/group_new.js"), { title: "New group", name: "group-new", back: true }],
  [/^\/c\/(\d+)\/info$/, () => import("./screens/conversation_info.js"), { title: "Chat info", name: "conversation-info", back: true }],
  [/^\/join(?:\/([^/]+))?$/, () => import("./screens/join.js"), { title: "Join a group", name: "join", back: true }],
  [/^\/(?:add|u)\/([^/]+)$/, () => import("./screens/add_user.js"), { title: "Add contact", name: "add-user", back: true }],
  [/^\/wallet$/, () => import("./screens/wallet.js"), { title: "Wallet", name: "wallet" }],
  [/^\/pay(?:\/([^/]+))?$/, () => import("./screens/pay.js"), { title: "Pay", name: "pay", back: true }],
  [/^\/discover$/, () => import("./screens/discover.js"), { title: "Discover", name: "discover" }],
  [/^\/store$/, () => import("./screens/store.js"), { title: "Sticker store", name: "store", back: true }],
  [/^\/store\/(\d+)$/, () => import("./screens/store_pack.js"), { title: "Sticker pack", name: "store-pack", back: true }],
  [/^\/brands$/, () => import("./screens/brands.js"), { title: "Brands", name: "brands", back: true }],
  [/^\/brands\/(\d+)$/, () => import("./screens/brand.js"), { title: "Brand", name: "brand", back: true }],
  [/^\/me$/, () => import("./screens/me.js"), { title: "Me", name: "me" }],
];
