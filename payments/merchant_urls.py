from django.urls import path

from .api import merchant

urlpatterns = [
    path("orders", merchant.MerchantOrderCreateView.as_view()),
    path("orders/<id:order_id>", merchant.MerchantOrderDetailView.as_view()),
    path("orders/<id:order_id>/close", merchant.MerchantOrderCloseView.as_view()),
    path("orders/<id:order_id>/refunds", merchant.MerchantRefundCreateView.as_view()),
    path("orders/<id:order_id>/webhooks", merchant.MerchantOrderWebhooksView.as_view()),
    path(
        "orders/<id:order_id>/webhooks/<id:delivery_id>/resend",
        merchant.MerchantWebhookResendView.as_view(),
    ),
    path("charges", merchant.MerchantChargeView.as_view()),
    path("till", merchant.MerchantTillView.as_view()),
]
