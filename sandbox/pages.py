"""Sandbox pages: the Brevo side as a marketer sees it, the Zoom side as a
developer sees it, and the "Play webinar" form. Development only: the whole
app is mounted only when SANDBOX is on."""

from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from . import inspect_api
from . import models as sb
from .playback import Options, default_target, play_in_background


class PlayForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[("webinar", "Webinar"), ("meeting", "Meeting")], initial="webinar"
    )
    attendees = forms.IntegerField(min_value=1, max_value=5000, initial=50)
    slug = forms.SlugField(
        initial="sandbox", help_text="The portal connection that receives it."
    )
    target = forms.URLField(
        required=False,
        assume_scheme="http",
        help_text="Leave empty for the portal's own webhook URL.",
    )
    retry_scale = forms.FloatField(
        min_value=0,
        max_value=1,
        initial=0.01,
        help_text="Zoom retries after 5, 20 and 60 minutes; 0.01 makes that 3 s, "
        "12 s and 36 s.",
    )
    uuid_style = forms.ChoiceField(
        choices=[
            ("mixed", "with + and /"),
            ("slash", "begins with /"),
            ("double", "contains //"),
            ("plain", "letters and digits"),
        ],
        initial="mixed",
    )


def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "sandbox/home.html",
        {
            "stats": inspect_api.stats(),
            "config": inspect_api.config_json(sb.SandboxConfig.load()),
            "form": PlayForm(),
            "bases": {
                "ZOOM_OAUTH_BASE_URL": settings.ZOOM_OAUTH_BASE_URL,
                "ZOOM_API_BASE_URL": settings.ZOOM_API_BASE_URL,
                "BREVO_API_BASE_URL": settings.BREVO_API_BASE_URL,
            },
            "recent": _recent_playbacks(),
        },
    )


def _recent_playbacks() -> list[dict]:
    rows = (
        sb.WebhookSend.objects.values("playback")
        .annotate(
            n=Count("id"),
            delivered=Count("id", filter=Q(delivered=True)),
            gave_up=Count("id", filter=Q(gave_up=True)),
        )
        .order_by()
    )
    latest = {
        r.playback: r
        for r in sb.WebhookSend.objects.filter(seq=0).order_by("-created_at")[:10]
    }
    found = [
        dict(r, first=latest[r["playback"]]) for r in rows if r["playback"] in latest
    ]
    return sorted(found, key=lambda r: r["first"].created_at, reverse=True)


def play(request: HttpRequest) -> HttpResponse:
    form = PlayForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        options = Options(
            kind=data["kind"],
            attendees=data["attendees"],
            slug=data["slug"],
            target=data["target"] or "",
            retry_scale=data["retry_scale"],
            uuid_style=data["uuid_style"],
        )
        playback = play_in_background(options)
        if playback:
            return redirect("sandbox:playback", playback=playback)
        form.add_error(None, "The playback could not start; see the server log.")
    return render(
        request,
        "sandbox/play.html",
        {"form": form, "default_target": default_target("<slug>")},
        status=400 if form.errors else 200,
    )


def playback(request: HttpRequest, playback: str) -> HttpResponse:
    sends = sb.WebhookSend.objects.filter(playback=playback).order_by("seq")
    first = sends.first()
    meeting = None
    if first is not None:
        body = json.loads(first.body)
        meeting = (
            sb.Occurrence.objects.filter(uuid=body["payload"]["object"]["uuid"])
            .select_related("meeting")
            .first()
        )
    totals = sends.aggregate(
        n=Count("id"),
        delivered=Count("id", filter=Q(delivered=True)),
        gave_up=Count("id", filter=Q(gave_up=True)),
        retried=Count("id", filter=Q(attempts__gt=1)),
    )
    page = Paginator(sends, 200).get_page(request.GET.get("page"))
    done = totals["n"] and totals["delivered"] + totals["gave_up"] >= totals["n"]
    return render(
        request,
        "sandbox/playback.html",
        {
            "playback": playback,
            "occurrence": meeting,
            "totals": totals,
            "page": page,
            "done": done,
        },
    )


def zoom_side(request: HttpRequest) -> HttpResponse:
    meetings = (
        sb.Meeting.objects.select_related("host")
        .annotate(
            sessions=Count("occurrences__participants", distinct=True),
            registrant_count=Count("registrants", distinct=True),
        )
        .order_by("-start_time")[:100]
    )
    stats = inspect_api.stats()
    return render(
        request,
        "sandbox/zoom.html",
        {
            "meetings": meetings,
            "stats": stats,
            "accounts": sb.ZoomAccount.objects.prefetch_related("apps", "users"),
            "zoom_endpoints": sorted(
                (k.split(":", 1)[1], v)
                for k, v in stats["calls_by_endpoint"].items()
                if k.startswith("zoom")
            ),
        },
    )


def meeting(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_object_or_404(sb.Meeting.objects.select_related("host"), pk=pk)
    occurrences = list(found.occurrences.all())
    participants = sb.Participant.objects.filter(occurrence__meeting=found).order_by(
        "join_time", "id"
    )
    return render(
        request,
        "sandbox/meeting.html",
        {
            "meeting": found,
            "occurrences": occurrences,
            "participants": Paginator(participants, 300).get_page(request.GET.get("p")),
            "registrants": Paginator(found.registrants.all(), 300).get_page(
                request.GET.get("r")
            ),
            "guests": participants.filter(email="").count(),
        },
    )


def calls(request: HttpRequest) -> HttpResponse:
    rows = sb.CallLog.objects.all()
    api = request.GET.get("api", "")
    if api:
        rows = rows.filter(api=api)
    if request.GET.get("status"):
        rows = rows.filter(status=request.GET["status"])
    return render(
        request,
        "sandbox/calls.html",
        {
            "page": Paginator(rows, 200).get_page(request.GET.get("page")),
            "api": api,
            "stats": inspect_api.stats(),
        },
    )


def brevo_side(request: HttpRequest) -> HttpResponse:
    account = sb.BrevoAccount.objects.order_by("id").first()
    contacts = sb.Contact.objects.filter(account=account).prefetch_related("lists")
    q = request.GET.get("q", "").strip()
    if q:
        contacts = contacts.filter(email__icontains=q.lower())
    list_filter = request.GET.get("list", "")
    if list_filter.isdigit():
        contacts = contacts.filter(lists__list_id=int(list_filter))
    attribute_names = list(
        sb.Attribute.objects.filter(account=account).values_list("name", flat=True)
    )
    page = Paginator(contacts, 100).get_page(request.GET.get("page"))
    rows = [
        {
            "contact": c,
            "values": [c.attributes.get(name, "") for name in attribute_names],
            "lists": sorted(lst.list_id for lst in c.lists.all()),
        }
        for c in page
    ]
    return render(
        request,
        "sandbox/brevo.html",
        {
            "account": account,
            "page": page,
            "rows": rows,
            "attribute_names": attribute_names,
            "q": q,
            "list_filter": list_filter,
            "lists": sb.ContactList.objects.filter(account=account).annotate(
                members=Count("contacts")
            ),
            "attributes": sb.Attribute.objects.filter(account=account),
            "events": sb.Event.objects.filter(account=account)[:100],
            "emails": sb.SentEmail.objects.filter(account=account)[:100],
            "campaigns": sb.Campaign.objects.filter(account=account)[:50],
            "imports": sb.ImportProcess.objects.filter(account=account)[:20],
            "stats": inspect_api.stats(),
        },
    )


def contact(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_object_or_404(sb.Contact.objects.prefetch_related("lists"), pk=pk)
    return render(
        request,
        "sandbox/contact.html",
        {
            "contact": found,
            "events": found.events.all()[:200],
            "emails": sb.SentEmail.objects.filter(
                account=found.account, to__icontains=found.email
            )[:100]
            if found.email
            else [],
        },
    )
