from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        from config.realtime import add_durable_sink

        from . import history_setup
        from .services.user_events import record

        # Every durable push (wallet, store, friends, my private chat changes) is kept in
        # the person's sync stream; conversation events have their own stream.
        add_durable_sink(record)
        # Chat history (issue 5): privacy hooks, beat jobs, its task module.
        history_setup.ready()
        # Money in chat (issue 7): transfer and red packet messages follow their money.
        from .services.money import register_money_listeners

        register_money_listeners()
