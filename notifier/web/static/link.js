// The pages a link in a message opens (/v1/confirm/…, /v1/unsubscribe/…): the server writes
// them in the reader's language; this adds the header's language switch and the city's look.
import { define, setupLanguages, setLanguage, lang } from "/static/i18n.js";
import { loadCity } from "/static/city.js";

const main = document.getElementById("main");
const written = document.documentElement.lang;  // the reader's language, as the server chose
define({ address: main.dataset.address });
await loadCity(main.dataset.city).catch(() => null);
const asked = new URLSearchParams(location.search).get("lang") || localStorage.getItem("notifier.lang");
setupLanguages(document.getElementById("languages"));
if (!asked && lang() !== written) setLanguage(written);
