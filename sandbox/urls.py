"""Mounted at /sandbox/ only when SANDBOX is on (portal/urls.py)."""

from django.urls import path, re_path

from . import brevo_api as brevo
from . import inspect_api, pages, zoom_oauth
from . import zoom_api as zoom

app_name = "sandbox"

# Past meeting/webinar paths take an id or an occurrence uuid; a uuid encoded
# once may contain "/" (refused with 3001 by zoom_api.decode_ref), hence ".+".
REF = r"(?P<ref>.+?)"

zoom_urls = [
    path("zoom/oauth/authorize", zoom_oauth.authorize, name="zoom_authorize"),
    path("zoom/oauth/token", zoom_oauth.token, name="zoom_token"),
    path("zoom/oauth/revoke", zoom_oauth.revoke, name="zoom_revoke"),
    path("zoom/v2/users", zoom.list_users),
    path("zoom/v2/users/<str:user_id>", zoom.get_user),
    path("zoom/v2/users/<str:user_id>/meetings", zoom.list_meetings),
    path("zoom/v2/users/<str:user_id>/webinars", zoom.list_webinars),
    path("zoom/v2/meetings/<str:meeting_id>", zoom.get_meeting),
    path("zoom/v2/webinars/<str:webinar_id>", zoom.get_webinar),
    path("zoom/v2/webinars/<str:webinar_id>/registrants", zoom.webinar_registrants),
    re_path(
        rf"^zoom/v2/past_meetings/{REF}/participants$", zoom.past_meeting_participants
    ),
    re_path(rf"^zoom/v2/past_meetings/{REF}/instances$", zoom.past_meeting_instances),
    re_path(rf"^zoom/v2/past_meetings/{REF}$", zoom.past_meeting),
    re_path(
        rf"^zoom/v2/past_webinars/{REF}/participants$", zoom.past_webinar_participants
    ),
    re_path(rf"^zoom/v2/past_webinars/{REF}/instances$", zoom.past_webinar_instances),
    re_path(rf"^zoom/v2/past_webinars/{REF}$", zoom.past_webinar),
    re_path(
        rf"^zoom/v2/report/meetings/{REF}/participants$",
        zoom.report_meeting_participants,
    ),
    re_path(
        rf"^zoom/v2/report/webinars/{REF}/participants$",
        zoom.report_webinar_participants,
    ),
    re_path(rf"^zoom/v2/meetings/{REF}/recordings$", zoom.meeting_recordings),
]

M = brevo.methods
brevo_urls = [
    path("brevo/v3/account", M(get=brevo.get_account)),
    path("brevo/v3/contacts", M(get=brevo.list_contacts, post=brevo.create_contact)),
    path("brevo/v3/contacts/import", M(post=brevo.import_contacts)),
    path("brevo/v3/contacts/batch", M(post=brevo.update_batch)),
    path("brevo/v3/contacts/attributes", M(get=brevo.get_attributes)),
    path(
        "brevo/v3/contacts/attributes/<str:category>/<str:name>",
        M(post=brevo.create_attribute),
    ),
    path("brevo/v3/contacts/lists", M(get=brevo.get_lists, post=brevo.create_list)),
    path("brevo/v3/contacts/lists/<int:list_id>", M(get=brevo.get_list)),
    path(
        "brevo/v3/contacts/lists/<int:list_id>/contacts",
        M(get=brevo.list_contacts_in_list),
    ),
    path(
        "brevo/v3/contacts/lists/<int:list_id>/contacts/add",
        M(post=brevo.add_to_list),
    ),
    path(
        "brevo/v3/contacts/lists/<int:list_id>/contacts/remove",
        M(post=brevo.remove_from_list),
    ),
    path(
        "brevo/v3/contacts/folders", M(get=brevo.get_folders, post=brevo.create_folder)
    ),
    path(
        "brevo/v3/contacts/<str:identifier>",
        M(get=brevo.get_contact, put=brevo.update_contact, delete=brevo.delete_contact),
    ),
    path("brevo/v3/processes", M(get=brevo.get_processes)),
    path("brevo/v3/processes/<int:process_id>", M(get=brevo.get_process)),
    path("brevo/v3/events", M(get=brevo.get_events, post=brevo.create_event)),
    path("brevo/v3/events/batch", M(post=brevo.create_batch_events)),
    path("brevo/v3/smtp/email", M(post=brevo.send_email)),
    path("brevo/v3/emailCampaigns", M(post=brevo.create_campaign)),
    path("brevo/v3/emailCampaigns/<int:campaign_id>", M(get=brevo.get_campaign)),
    path(
        "brevo/v3/emailCampaigns/<int:campaign_id>/sendNow",
        M(post=brevo.send_campaign_now),
    ),
]

inspect_urls = [
    path("api/config", inspect_api.config_view, name="api_config"),
    path("api/stats", inspect_api.stats_view, name="api_stats"),
    path("api/reset", inspect_api.reset_view, name="api_reset"),
]

page_urls = [
    path("", pages.home, name="home"),
    path("play/", pages.play, name="play"),
    path("playbacks/<str:playback>/", pages.playback, name="playback"),
    path("zoom/", pages.zoom_side, name="zoom"),
    path("zoom/meetings/<int:pk>/", pages.meeting, name="meeting"),
    path("zoom/calls/", pages.calls, name="calls"),
    path("brevo/", pages.brevo_side, name="brevo"),
    path("brevo/contacts/<int:pk>/", pages.contact, name="contact"),
]

# API clients get JSON, not an HTML page, for a path the sandbox does not serve.
unknown_urls = [
    re_path(r"^zoom/v2/", inspect_api.unknown_zoom_path),
    re_path(r"^brevo/v3/", inspect_api.unknown_brevo_path),
]

urlpatterns = zoom_urls + brevo_urls + inspect_urls + page_urls + unknown_urls
