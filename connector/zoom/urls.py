"""The "Connect Zoom" pages (included at the site root by connector/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("connect/zoom/", views.connect, name="connect"),
    path("connect/zoom/start/", views.connect_start, name="connect_start"),
    path("connect/zoom/callback/", views.connect_callback, name="connect_callback"),
    path(
        "connect/zoom/disconnect/<int:pk>/", views.disconnect, name="connect_disconnect"
    ),
]
