// The console's compose form and the server's copy of an announcement or a draft: the form is
// filled from it (its target: areas, a circle or a polygon on the map; its expiry and time; its
// texts), so that an update or a draft starts from what the server has, not from what this tab
// remembers. Dates: datetime-local inputs in the browser's time zone, ISO 8601 for the API.
const $ = (id) => document.getElementById(id);

export function localIso(input) {  // a datetime-local value, in the browser's time zone, as ISO 8601
  return input.value ? new Date(input.value).toISOString() : undefined;
}

export function localInput(iso) {  // an ISO 8601 time as a datetime-local value in the browser's zone
  if (!iso) return "";
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

/** The compose form holds the announcement (or draft) as the server has it: its target (areas,
 *  a circle or a polygon), its expiry and time, its texts, so that an update starts from it. */
export function fill(body, map) {
  $("compose").reset();
  if (body.category) $("category").value = body.category;
  if (body.severity) $("severity").value = body.severity;
  for (const language of ["fr", "en"]) {
    const c = body.content?.[language] || {};
    for (const f of ["title", "body", "link", "instructions"]) $(`${language}-${f}`).value = c[f] || "";
  }
  $("expires").value = localInput(body.expires_at);
  $("scheduled").value = localInput(body.scheduled_at);
  return fillTarget(body.target || {}, map);
}

/** The target on the map; the target itself when the map cannot show it whole (several
 *  shapes), to be kept until the map is changed. */
function fillTarget(target, map) {
  const circle = target.circles?.[0], polygon = target.polygons?.[0];
  const shapes = (target.areas?.length ? 1 : 0) + (target.circles?.length || 0) + (target.polygons?.length || 0);
  if (circle) {
    map.radius = circle.radius_m;
    for (const input of [map.inputs?.radius, map.inputs?.range]) if (input) input.value = circle.radius_m;
    map.setMode("point");
    map.setPoint(circle.lon, circle.lat);
  } else if (polygon) {
    map.vertices = polygon.coordinates[0].slice(0, -1).map(([lon, lat]) => [lon, lat]);
    map.setMode("polygon");
  } else {
    map.setMode("areas");
    map.select(target.areas || []);
  }
  return shapes > 1 ? target : null;
}
