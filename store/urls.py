from django.urls import path

from .api import catalogue, creator, library, purchases

urlpatterns = [
    path("store/packs", catalogue.StorePackListView.as_view()),
    path("store/packs/<id:pack_id>", catalogue.StorePackDetailView.as_view()),
    path("store/packs/<id:pack_id>/purchase", purchases.StorePackPurchaseView.as_view()),
    path("store/packs/<id:pack_id>/gift", purchases.StorePackGiftView.as_view()),
    path("store/creator", creator.StoreCreatorProfileView.as_view()),
    path("store/creator/packs", creator.StoreCreatorPackListView.as_view()),
    path("store/creator/packs/<id:pack_id>", creator.StoreCreatorPackDetailView.as_view()),
    path("store/creator/packs/<id:pack_id>/cover", creator.StoreCreatorPackCoverView.as_view()),
    path(
        "store/creator/packs/<id:pack_id>/stickers",
        creator.StoreCreatorStickerAddView.as_view(),
    ),
    path(
        "store/creator/packs/<id:pack_id>/stickers/<id:sticker_id>",
        creator.StoreCreatorStickerDeleteView.as_view(),
    ),
    path("store/creator/packs/<id:pack_id>/submit", creator.StoreCreatorPackSubmitView.as_view()),
    path("me/sticker-packs", library.MyStickerPacksView.as_view()),
    path("me/sticker-packs/order", library.MyStickerPacksOrderView.as_view()),
    path("me/sticker-packs/<id:pack_id>", library.MyStickerPackView.as_view()),
]
