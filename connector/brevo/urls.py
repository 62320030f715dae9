from django.urls import path

from . import views

urlpatterns = [
    path(
        "hooks/brevo/import/<str:token>/",
        views.import_notify,
        name="brevo-import-notify",
    ),
]
