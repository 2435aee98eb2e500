from celery import shared_task

from .services.creators import sticker_thumbnail_make
from .services.purchases import pack_popularity_recount


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def sticker_make_thumbnail(sticker_id: int) -> bool:
    return sticker_thumbnail_make(sticker_id=sticker_id)


@shared_task
def popularity_recount() -> int:
    return pack_popularity_recount()
