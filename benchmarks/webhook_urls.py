"""The portal's URLs plus ``/bench/bare/``, reachable only under the benchmark's
settings (benchmarks.webhook_settings)."""

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from portal.urls import urlpatterns as portal_urlpatterns


@csrf_exempt
@require_POST
def bare(request: HttpRequest) -> JsonResponse:
    """The least a Django view can do with a delivery: read it and answer."""
    return JsonResponse({"status": "ok", "bytes": len(request.body)})


urlpatterns = [path("bench/bare/", bare), *portal_urlpatterns]
