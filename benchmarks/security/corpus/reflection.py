"""Reflected secrets in every form, on every path: an API on the pack's own auth domain
echoes the credential it was sent -- in the body, a JSON string, a header, a cookie, a
401's ``WWW-Authenticate``, a redirect's ``Location`` -- encoded the way real APIs encode
(JSON ``\\/`` and ``\\uXXXX``, percent-escapes in either case, base64 and base64url, HTML
entities, hex), for a long token, one full of symbols and one shorter than 8 characters.
Then the error paths: a malformed status or header line an HTTP parser quotes, a redirect
hop whose path or malformed ``Location`` holds the token.

Each case relays what the guest was handed to the pack's other declared domain and then
fetches directly, so the guest's input, the sink and the caller's result or problem
document are all judged."""

from __future__ import annotations

from ..harness import Attack
from ._relay import relay_and_fetch

WHERE_OK = ("body", "json", "header", "cookie", "www-auth")
#: forms that differ from the raw text for each secret (the long one has no symbols).
FORMS_BY_SITE = {
    "plain": ("raw", "json-u", "json-U", "pct-upper", "pct-lower", "pct-plus", "pct-twice",
              "base64", "base64url", "html-decimal", "html-hex", "hex"),
    "symbols": ("raw", "json-slash", "json-u", "pct-lower", "pct-plus", "html-named",
                "base64url"),
    "short": ("raw", "pct-lower", "base64", "json-u", "hex", "html-decimal"),
}
WHERE_BY_SITE = {"plain": (*WHERE_OK, "location"), "symbols": ("body", "json", "header"),
                 "short": ("body", "header", "location")}
QUICK = {("plain", "json", "json-u"), ("symbols", "json", "json-slash"),
         ("short", "body", "pct-lower"), ("plain", "location", "base64")}

#: Error paths on the raw upstream: (route, what the caller must get, rules).
ERROR_PATHS: dict[str, tuple[str, str, str | None]] = {
    "malformed status line quoting the token": ("/bad-status", "fetch_network", None),
    "the token as the status line's reason phrase": ("/reason", "ok", None),
    "header line without a colon quoting the token": ("/colonless", "fetch_network", None),
    "NUL after the token in a header value": ("/nul-header", "fetch_network", None),
    "the token as the Content-Length": ("/bad-length", "fetch_network", None),
    "the token as a chunk size": ("/bad-chunk", "fetch_network", None),
    "an obsolete folded header line holding the token": ("/folded", "fetch_network|ok", None),
    "redirect to an IP literal, the token in its path": (
        "/to-ip", "fetch_denied", "ip_literal|redirect_secret"),
    "redirect to an undeclared host, the token in its path": (
        "/to-undeclared", "fetch_denied", "undeclared_domain|redirect_secret"),
    "malformed Location http://[<token>/": ("/to-bracket", "fetch_denied",
                                            "redirect|ip_literal|redirect_secret"),
    "Location with the token as the port": ("/to-bad-port", "fetch_denied",
                                            "port|redirect|redirect_secret"),
    "redirect to gopher://, the token in its path": ("/to-gopher", "fetch_denied",
                                                    "scheme|redirect_secret"),
    "redirect with the token as userinfo": ("/to-userinfo", "fetch_denied",
                                            "userinfo|undeclared_domain|redirect_secret"),
    "redirect to the declared cdn, the token in its path": ("/to-cdn-path", "fetch_denied",
                                                           "redirect_secret"),
    "redirect with a control character before the token": (
        "/to-control", "fetch_denied", "control_char|redirect_secret"),
}


def _reflections() -> list[Attack]:
    out: list[Attack] = []
    for site, forms in FORMS_BY_SITE.items():
        for where in WHERE_BY_SITE[site]:
            for form in forms:
                location = where == "location"
                out.append(Attack(
                    f"{site} token reflected in the {where}, {form}", "reflection",
                    "fetch_denied" if location else "ok",
                    relay_and_fetch(site, f"/reflect/{where}/{form}"),
                    rule="redirect_secret" if location else None,
                    quick=(site, where, form) in QUICK, language="zig"))
    return out


def _error_paths() -> list[Attack]:
    out: list[Attack] = []
    for title, (route, expected, rule) in ERROR_PATHS.items():
        for site in ("wire", "wire_symbols"):
            label = "" if site == "wire" else " (token with symbols)"
            out.append(Attack(f"error path: {title}{label}", "reflection", expected,
                              relay_and_fetch(site, route), rule=rule,
                              quick=route in ("/bad-status", "/to-cdn-path") and site == "wire",
                              language="zig"))
    return out


def attacks() -> list[Attack]:
    return _reflections() + _error_paths()
