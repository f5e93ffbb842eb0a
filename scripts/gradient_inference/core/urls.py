"""URLs judged by what the sending library will connect to: a URL is read by urllib3's own parser
(requests sends with urllib3), a URL on which parsers can disagree is refused, and a host is
normalised the way the system's resolver reads it (every numeric IPv4 spelling, IPv4-mapped IPv6)
before any decision that it is loopback, or an address nothing should be sent to.

Belongs here: every security decision about a URL's scheme and host. Does not belong here: what
the user configured (core.settings) or sending (api.client).
"""
from __future__ import annotations

import re
from collections import namedtuple

from gradient_inference.core.errors import GradientError
from gradient_inference.core.text import one_line

Target = namedtuple("Target", "scheme userinfo host port path")
# Characters on which URL parsers disagree when they stand before the path: a backslash (WHATWG and
# urllib3 end the authority there, RFC 3986 does not), white space and control characters.
AMBIGUOUS = r"[\\\s\x00-\x1f\x7f]"
NUMERIC_HOST = r"[0-9][0-9a-fx.]*"  # what inet_aton may read as an address: 2130706433, 0x7f.1, 0177.0.0.1


def target(url: str) -> Target:
    """(scheme, userinfo, host, port, path) as urllib3 reads the URL, the host lowercase without
    brackets. ValueError (in words that never repeat the URL) when it cannot be read, or when it
    holds characters on which parsers disagree before its path."""
    from urllib3.exceptions import LocationParseError  # here: urllib3 comes with requests, which --help never needs
    from urllib3.util import parse_url

    head = re.match(r"[^/?#]*(//[^/?#]*)?", url).group()  # the scheme and authority, as read most generously
    if re.search(AMBIGUOUS, head) or re.search(r"[\s\x00-\x1f\x7f]", url):
        raise ValueError("the URL holds a backslash, white space or a control character, which URL parsers read "
                         "differently")
    try:
        parts = parse_url(url)
    except (LocationParseError, ValueError):
        raise ValueError("the URL is not valid") from None
    host = (parts.host or "").strip("[]").lower() or None
    return Target((parts.scheme or "").lower(), parts.auth, host, parts.port, parts.path or "")


def address(host: str | None):
    """The IP address a host names as the resolver reads it (IPv4-mapped IPv6 as its IPv4), or None
    for a name."""
    import ipaddress  # here, not at the top: the pricing command's start-up never judges a URL
    import socket

    if not host:
        return None
    text = host.strip("[]").split("%", 1)[0].rstrip(".").lower()
    try:
        found = ipaddress.ip_address(text)
    except ValueError:
        if not re.fullmatch(NUMERIC_HOST, text):
            return None
        try:  # the resolver's reading of 2130706433, 0x7f000001, 127.1 or 0177.0.0.1
            found = ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return found.ipv4_mapped if found.version == 6 and found.ipv4_mapped else found


def is_loopback_host(host: str | None) -> bool:
    """127.0.0.0/8 or ::1 in any spelling, or exactly localhost or *.localhost. A name that merely
    starts with 127. (127.0.0.1.example.com) is someone else's host."""
    name = (host or "").strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    found = address(name)
    return bool(found and found.is_loopback)


def is_forbidden_host(host: str | None) -> bool:
    """An address nothing should be sent to: link-local (a cloud's metadata service, 169.254/16,
    fe80::/10), multicast, or unspecified (0.0.0.0/8, ::), in any spelling. Names are not resolved."""
    found = address(host)
    if found is None:
        return False
    return found.is_link_local or found.is_multicast or found.is_unspecified or (
        found.version == 4 and int(found) >> 24 == 0)


def is_loopback_url(url: str) -> bool:
    try:
        return is_loopback_host(target(url).host)
    except ValueError:
        return False


def host_class(url: str) -> tuple:
    """(scheme, loopback or not) of a URL: what a redirect must keep to carry the same trust."""
    found = target(url)
    return found.scheme, is_loopback_host(found.host)


def checked_redirect(first: str, current: str, location: str, method: str) -> str:
    """Where a presigned transfer's redirect leads, when it may be followed: by a GET, keeping the
    scheme and the host class of the URL first given. ValueError otherwise."""
    from urllib.parse import urljoin  # here: only a redirect needs it

    following = urljoin(current, location)
    if method != "GET" or host_class(following) != host_class(first):
        raise ValueError(following)
    return following


def presigned_url(url, what: str) -> str:
    """A presigned URL from the server (a batch file's, a video's), judged as urllib3 will read it:
    https (plain http only to this machine, since it carries the user's data), never another scheme, never one
    that parsers read differently, and never a link-local, multicast or unspecified address (a
    cloud's metadata service, say) in any spelling."""
    if not isinstance(url, str):
        raise GradientError("invalid_response", f"the server's {what} is not an http(s) URL")
    try:
        scheme, _, host, _, _ = target(url)
    except ValueError as exc:
        raise GradientError("invalid_response", f"the server's {what} cannot be used: {exc}") from None
    if scheme not in ("http", "https"):
        raise GradientError("invalid_response", f"the server's {what} is not an http(s) URL")
    if not host or is_forbidden_host(host):
        raise GradientError("invalid_response", f"the server's {what} points at {one_line(host or 'no host', 80)}, "
                            "an address nothing should be sent to (link-local, multicast or unspecified)")
    if scheme == "http" and not is_loopback_host(host):
        raise GradientError("invalid_response", f"the server's {what} is plain http to {one_line(host, 80)}: the "
                            "user's data goes only over https", hint="report it to the provider")
    return url


def host_of(url: str) -> str:
    """host[:port] of a URL as urllib3 reads it, for words: never its user:password@; 'the server'
    when there is none."""
    try:
        found = target(url or "")
    except ValueError:
        return "the server"
    if not found.host:
        return "the server"
    host = f"[{found.host}]" if ":" in found.host else found.host
    return host + (f":{found.port}" if found.port else "")
