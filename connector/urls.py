from django.urls import include, path

from . import dashboard, views

app_name = "connector"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("dashboard/preview/", dashboard.preview, name="preview"),
    path("", include("connector.api.urls")),
    path("", include("connector.brevo.urls")),
    path("", include("connector.zoom.urls")),
]
