"""CAP documents the tests post: a Paris alert written here (derived, not captured: a real-world
file for Paris was not available) and an entity expansion bomb."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

XML = {"Content-Type": "application/cap+xml"}


def paris_alert(
    identifier: str,
    msg_type: str = "Alert",
    references: str = "",
    severity: str = "Severe",
    status: str = "Actual",
) -> bytes:
    soon = (datetime.now(UTC) + timedelta(hours=6)).isoformat(timespec="seconds")
    sent = datetime.now(UTC).isoformat(timespec="seconds")
    refs = f"<references>{references}</references>" if references else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier><sender>crue@paris.example</sender><sent>{sent}</sent>
  <status>{status}</status><msgType>{msg_type}</msgType><scope>Public</scope>{refs}
  <info><language>fr-FR</language><category>Met</category><event>Crue de la Seine</event>
    <urgency>Expected</urgency><severity>{severity}</severity><certainty>Likely</certainty>
    <expires>{soon}</expires><headline>Crue de la Seine : quais fermés</headline>
    <description>Les voies sur berges sont fermées.</description>
    <instruction>Ne descendez pas sur les quais.</instruction>
    <area><areaDesc>Quais de Seine, 5e</areaDesc><circle>48.8515,2.3520 0.3</circle></area>
  </info>
  <info><language>en-GB</language><category>Met</category><event>Seine flood</event>
    <urgency>Expected</urgency><severity>{severity}</severity><certainty>Likely</certainty>
    <expires>{soon}</expires><headline>Seine flood: embankments closed</headline>
    <description>Riverside roads are closed.</description>
    <area><areaDesc>Quais de Seine, 5e</areaDesc><circle>48.8515,2.3520 0.3</circle></area>
  </info>
</alert>""".encode()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE alert [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol9;</identifier></alert>
"""
