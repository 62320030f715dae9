from django.urls import include, path

from . import views

app_name = "connector"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("", include("connector.api.urls")),
    path("", include("connector.brevo.urls")),
    path("", include("connector.zoom.urls")),
]
