from django.urls import path

from chatops import views

app_name = "chatops"
urlpatterns = [path("webhook/", views.telegram_webhook, name="telegram_webhook")]
