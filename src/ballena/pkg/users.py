"""``-u user[:group]`` resolved against a container's /etc/passwd and /etc/group, with the rules
of libcontainer's GetExecUser: names must exist; numbers need not; without an explicit group
the user's primary group and the groups listing them as a member apply.
"""

from __future__ import annotations

from dataclasses import dataclass

from ballena.errors import InvalidArgument


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecUser:
    uid: int
    gid: int
    sgids: tuple[int, ...]
    home: str


def _parse(text: str | None, nfields: int) -> list[list[str]]:
    rows = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) < nfields:
            parts += [""] * (nfields - len(parts))
        rows.append(parts)
    return rows


def resolve(spec: str, passwd: str | None, group: str | None, *, additional: tuple[str, ...] = ()) -> ExecUser:
    """Raises InvalidArgument with Docker's wording when a name does not exist."""
    user_part, _, group_part = (spec or "").partition(":")
    users = _parse(passwd, 7)
    groups = _parse(group, 4)
    uid, gid, home, name = 0, 0, "/", ""
    if user_part == "":
        user_part = "0" if not spec else user_part
    matched = None
    for row in users:
        if row[0] == user_part or (user_part.isdigit() and row[2] == user_part):
            matched = row
            break
    if matched is not None:
        name = matched[0]
        uid = int(matched[2] or 0)
        gid = int(matched[3] or 0)
        home = matched[5] or "/"
    elif user_part.isdigit():
        uid = int(user_part)
    else:
        raise InvalidArgument(f"unable to find user {user_part}: no matching entries in passwd file")
    sgids: list[int] = []
    if group_part:
        found = next((r for r in groups if r[0] == group_part or (group_part.isdigit() and r[2] == group_part)), None)
        if found is not None:
            gid = int(found[2] or 0)
        elif group_part.isdigit():
            gid = int(group_part)
        else:
            raise InvalidArgument(f"unable to find group {group_part}: no matching entries in group file")
    elif name:
        for r in groups:
            members = [m for m in r[3].split(",") if m]
            if name in members and r[2].isdigit():
                g = int(r[2])
                if g != gid and g not in sgids:
                    sgids.append(g)
    for extra in additional:
        found = next((r for r in groups if r[0] == extra or r[2] == extra), None)
        if found is not None and found[2].isdigit():
            g = int(found[2])
        elif extra.isdigit():
            g = int(extra)
        else:
            raise InvalidArgument(f"Unable to find group {extra}: no matching entries in group file")
        if g not in sgids:
            sgids.append(g)
    return ExecUser(uid=uid, gid=gid, sgids=tuple(sgids), home=home)
