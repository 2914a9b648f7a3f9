// Web push on this device: the service worker (/sw.js), the VAPID key from the API, the
// browser's subscription registered as a contact point of the citizen (confirmed at once:
// this browser holds the citizen's token).
import { api } from "/static/api.js";

export function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

function keyBytes(b64url) {
  const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((b64url.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** Asks for permission and subscribes this browser; the PushSubscription. Throws
 *  Error("denied") when the person says no, Error("unsupported") without push. */
export async function browserPushSubscription() {
  if (!pushSupported()) throw new Error("unsupported");
  const permission = await Notification.requestPermission();
  if (permission !== "granted") throw new Error("denied");
  const { public_key } = await api("GET", "/v1/push/public-key");
  const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  await navigator.serviceWorker.ready;
  return (await registration.pushManager.getSubscription()) ||
    (await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: keyBytes(public_key),
    }));
}

/** Registers this browser's subscription (asked for here unless given) as a contact point of
 *  the citizen; returns the contact point. Throws as browserPushSubscription does. */
export async function enablePush(base, token, subscription = null) {
  subscription ||= await browserPushSubscription();
  return api("POST", `${base}/contacts`, { token, body: { push: subscription.toJSON() } });
}
