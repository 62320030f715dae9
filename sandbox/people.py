"""Generated people for playback: accents, commas, CJK names, shared first
names, mixed-case emails, guests without an email, registrants who never come
and people who rejoin."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field

FIRST_NAMES = [
    "Ada",
    "Zoë",
    "José",
    "Chloé",
    "Søren",
    "Łukasz",
    "Björn",
    "Amélie",
    "María-José",
    "Noël",
    "François",
    "Ingrid",
    "Kwame",
    "Aoife",
    "Nguyễn",
    "Rajesh",
    "Fatima",
    "Olivia",
    "Liam",
    "Mateo",
    "Hélène",
    "Jürgen",
    "Siobhán",
    "Emma",
    "Yusuf",
    "Élodie",
    "Ana",
    "Grace",
    "Tomás",
    "Nadia",
]
LAST_NAMES = [
    "Lovelace",
    "Ångström",
    "Núñez",
    "Dubois",
    "Kierkegaard",
    "Żółć",
    "Þórsson",
    "Poulain",
    "García",
    "O'Brien",
    "Müller",
    "Da Silva",
    "Van der Berg",
    "Okafor",
    "Smith",
    "Nakamura",
    "Haddad",
    "Rossi",
    "Kowalski",
    "Lefèvre",
    "Ó Súilleabháin",
    "Van Dijk",
    "Mensah",
    "Patel",
    "Côté",
    "Fernández",
    "Schäfer",
    "Lindqvist",
]
# Names written as one string, as people type them into Zoom.
SPECIAL_NAMES = [
    ("李", "雷", "李雷"),
    ("Zoë", "Ångström", "Zoë Ångström"),
    ("John", "Smith", "Smith, John"),
    ("Marie", "Curie", "Curie, Marie (Dr.)"),
    ("王", "芳", "王芳"),
    ("Renée", "Zellweger-Lefèvre", "Renée Zellweger-Lefèvre"),
]
GUEST_NAMES = [
    "iPhone",
    "Conference Room B",
    "Guest",
    "Galaxy S24",
    "Dad's iPad",
    "Meeting Room 3",
    "Zoom user",
    "Laptop",
    "Café Lumière",
    "Smith, J.",
]
DOMAINS = ["example.com", "example.org", "example.test", "mail.example.net"]
ORGS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "", ""]
TITLES = ["Marketing Manager", "CTO", "Student", "Consultant", "Head of Growth", ""]
COUNTRIES = ["FR", "DE", "US", "GB", "ES", "CN", "BR", "IE", "JP", ""]
SOURCES = ["linkedin", "newsletter", "general", "partner-site", "twitter"]


@dataclass
class Person:
    first_name: str
    last_name: str
    name: str
    email: str = ""
    registered: bool = False
    registrant_status: str = "approved"
    attends: bool = True
    sessions: int = 1
    org: str = ""
    job_title: str = ""
    country: str = ""
    source: str = ""
    zoom_user_id: str = ""
    registrant_id: str = ""
    participant_uuid: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def guest(self) -> bool:
        return not self.email


def _ascii(text: str) -> str:
    flat = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in flat.lower() if ch.isalnum())


def _email(first: str, last: str, n: int, rng: random.Random) -> str:
    local = ".".join(p for p in (_ascii(first), _ascii(last)) if p) or "participant"
    email = f"{local}.{n}@{rng.choice(DOMAINS)}"
    # Some people type their address with capitals; Brevo keys on lower case.
    if rng.random() < 0.05:
        email = email[0].upper() + email[1:]
    return email


def generate(
    attendees: int,
    *,
    webinar: bool,
    rng: random.Random,
    guest_rate: float = 0.05,
    no_show_rate: float = 0.25,
    rejoin_rate: float = 0.15,
) -> list[Person]:
    """``attendees`` people who join (guests included) plus, for a webinar,
    registrants who never come (some pending or denied)."""
    people: list[Person] = []
    guests = round(attendees * guest_rate)
    for n in range(attendees):
        if n < len(SPECIAL_NAMES) and attendees >= 20:
            first, last, name = SPECIAL_NAMES[n]
        else:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            name = f"{first} {last}"
        person = Person(first_name=first, last_name=last, name=name)
        if n >= attendees - guests:
            person.first_name, person.last_name = "", ""
            person.name = rng.choice(GUEST_NAMES)
        else:
            person.email = _email(first, last, n, rng)
            person.registered = webinar
            person.org = rng.choice(ORGS)
            person.job_title = rng.choice(TITLES)
            person.country = rng.choice(COUNTRIES)
            person.source = rng.choice(SOURCES)
        roll = rng.random()
        if roll < rejoin_rate / 3:
            person.sessions = 3
        elif roll < rejoin_rate:
            person.sessions = 2
        people.append(person)
    if webinar:
        no_shows = round(attendees * no_show_rate)
        for n in range(no_shows):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            roll = rng.random()
            status = (
                "pending" if roll < 0.04 else "denied" if roll < 0.06 else "approved"
            )
            people.append(
                Person(
                    first_name=first,
                    last_name=last,
                    name=f"{first} {last}",
                    email=_email(first, last, attendees + n, rng),
                    registered=True,
                    registrant_status=status,
                    attends=False,
                    sessions=0,
                    org=rng.choice(ORGS),
                    job_title=rng.choice(TITLES),
                    country=rng.choice(COUNTRIES),
                    source=rng.choice(SOURCES),
                )
            )
    return people
