"""Image use cases: list, inspect, tag, remove, history, prune. Import, save and load are
`services/imagearchives.py`.

Removal follows moby's rules exactly (daemon/images/image_delete.go): removing a name only
untags while other names remain; removing by ID with several names needs force; an image used
by a running container can never be removed, by a stopped one only with force.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ballena.core.images import (
    MEDIA_DOCKER_CONFIG,
    Image,
)
from ballena.errors import Conflict, InvalidArgument
from ballena.pkg import digest as dg
from ballena.pkg import reference
from ballena.pkg.filters import Filters
from ballena.pkg.stringid import truncate_id
from ballena.pkg.timeutil import parse_api_timestamp
from ballena.services.events import EventBus
from ballena.stores.images import ImageStore

LIST_FILTERS = frozenset({"dangling", "label", "before", "since", "reference", "until"})
PRUNE_FILTERS = frozenset({"dangling", "label", "label!", "until"})


class ImageUsers(Protocol):
    """Who uses an image: the containers service answers (container ID, running?)."""

    def users_of(self, image_id: str) -> list[tuple[str, bool]]: ...


class _NoUsers:
    def users_of(self, image_id: str) -> list[tuple[str, bool]]:
        return []


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteRecord:
    untagged: str = ""
    deleted: str = ""


class ImageService:
    def __init__(self, *, store: ImageStore, events: EventBus, users: ImageUsers | None = None) -> None:
        self.store = store
        self.events = events
        self.users: ImageUsers = users or _NoUsers()

    # -- queries ------------------------------------------------------------------------------

    def get(self, name: str) -> Image:
        return self.store.get(self.store.resolve(name))

    def list_images(self, *, all_: bool = False, filters: Filters | None = None) -> list[Image]:
        f = filters or Filters({})
        images = self.store.all()
        dangling = f.bool_value("dangling")
        before = since = None
        if "before" in f:
            before = min(self.get(v).created_ns for v in f.get("before"))
        if "since" in f:
            since = max(self.get(v).created_ns for v in f.get("since"))
        until = None
        if "until" in f:
            until = min(parse_api_timestamp(v) for v in f.get("until"))
        children = {img.parent for img in images if img.parent}
        out = []
        for img in images:
            if not img.repo_tags and not img.repo_digests:
                if dangling is False:
                    continue
                # Intermediate images (someone's parent) only show with -a.
                if not all_ and img.id in children and dangling is None:
                    continue
            elif dangling is True:
                continue
            if dangling is True and img.id in children and not all_:
                continue
            if not f.match_labels("label", dict(img.labels)):
                continue
            if before is not None and img.created_ns >= before:
                continue
            if since is not None and img.created_ns <= since:
                continue
            if until is not None and img.created_ns > until:
                continue
            if "reference" in f and not _matches_reference(img, f.get("reference")):
                continue
            out.append(img)
        out.sort(key=lambda i: i.created_ns, reverse=True)
        return out

    def history(self, name: str) -> list[dict[str, Any]]:
        img = self.get(name)
        hist = list(img.config.get("history") or [])
        layers = list(img.chain_ids)
        sizes: list[int] = []
        for h in hist:
            if h.get("empty_layer"):
                sizes.append(0)
            else:
                chain = layers.pop(0) if layers else None
                layer = self.store.layer(chain) if chain else None
                sizes.append(layer.size if layer else 0)
        out: list[dict[str, Any]] = []
        top_id = img.id
        tags = [reference.parse_normalized(t).familiar() for t in img.repo_tags]
        for i, (h, size) in enumerate(zip(reversed(hist), reversed(sizes), strict=True)):
            created = h.get("created") or ""
            try:
                from ballena.pkg.timeutil import parse_rfc3339

                created_s = parse_rfc3339(created) // 10**9 if created else 0
            except InvalidArgument:
                created_s = 0
            out.append(
                {
                    "Id": top_id if i == 0 else "<missing>",
                    "Created": created_s,
                    "CreatedBy": h.get("created_by", ""),
                    "Tags": tags if i == 0 else None,
                    "Size": size,
                    "Comment": h.get("comment", ""),
                }
            )
        return out

    def graph_driver_data(self, img: Image) -> dict[str, str]:
        """``GraphDriver.Data`` of ``docker image inspect``: where its overlay directories are."""
        if not img.chain_ids:
            return {}
        top = self.store.snapshots.upper_dir(img.chain_ids[-1])
        lowers = [str(p) for p in self.store.snapshots.lower_dirs(img.chain_ids[-1])]
        data = {"MergedDir": str(top.parent / "merged"), "UpperDir": str(top), "WorkDir": str(top.parent / "work")}
        if lowers:
            data["LowerDir"] = ":".join(lowers)
        return data

    # -- tags ---------------------------------------------------------------------------------

    def tag(self, source: str, repo: str, tag: str | None) -> reference.Reference:
        image_id = self.store.resolve(source)
        ref = reference.parse_repository_and_tag(repo, tag)
        if ref.digest is not None:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        ref = ref.tagged_or_latest()
        if ref.familiar_name == "scratch" or ref.path == "library/scratch":
            raise InvalidArgument("'scratch' is a reserved name")
        previous = self.store.tag(ref, image_id)
        self.events.publish("image", "tag", image_id, {"name": ref.familiar()})
        if previous is not None:
            # The old image may now be dangling; Docker says nothing more.
            pass
        return ref

    # -- removal ------------------------------------------------------------------------------

    def remove(self, name: str, *, force: bool = False, prune: bool = True) -> list[DeleteRecord]:
        image_id = self.store.resolve(name)
        records: list[DeleteRecord] = []
        refs = self.store.references(image_id)
        by_id = is_id_reference(name, image_id)
        removed_repository_ref = False
        if not by_id:
            parsed = reference.parse_normalized(name)
            parsed = parsed if parsed.digest is not None else parsed.tagged_or_latest()
            if not force and _is_single_reference(refs):
                user = next(iter(self.users.users_of(image_id)), None)
                if user is not None:
                    raise Conflict(
                        f'conflict: unable to remove repository reference "{name}" (must force) - container '
                        f"{truncate_id(user[0])} is using its referenced image {truncate_id(image_id)}"
                    )
            self.store.untag(str(parsed))
            records.append(DeleteRecord(untagged=parsed.familiar()))
            self.events.publish("image", "untag", image_id, {"name": image_id})
            refs = self.store.references(image_id)
            if parsed.digest is None:
                same_repo_tags = [r for r in refs if "@" not in r and r.rsplit(":", 1)[0] == parsed.name]
                if not same_repo_tags:
                    for r in list(refs):
                        if "@" in r and r.split("@", 1)[0] == parsed.name:
                            self.store.untag(r)
                            records.append(DeleteRecord(untagged=reference.parse_normalized(r).familiar()))
                    refs = self.store.references(image_id)
            if refs:
                return records
            removed_repository_ref = True
        elif _is_single_reference(refs):
            self._check_conflict(image_id, hard=True, soft=not force, active_reference=False)
            for r in refs:
                self.store.untag(r)
                records.append(DeleteRecord(untagged=reference.parse_normalized(r).familiar()))
                self.events.publish("image", "untag", image_id, {"name": image_id})
        self._delete_helper(image_id, records, force=force, prune=prune, quiet=removed_repository_ref)
        return records

    def _conflict(
        self, image_id: str, *, hard: bool, soft: bool, active_reference: bool = True
    ) -> tuple[Conflict, bool] | None:
        """moby's checkImageDeleteConflict: the first conflict, and whether a container uses it."""

        def conflict(message: str, is_hard: bool) -> Conflict:
            how = "cannot be forced" if is_hard else "must be forced"
            return Conflict(f"conflict: unable to delete {truncate_id(image_id)} ({how}) - {message}")

        if hard and self.store.children(image_id):
            return conflict("image has dependent child images", True), False
        users = self.users.users_of(image_id)
        if hard:
            for cid, running in users:
                if running:
                    return conflict(f"image is being used by running container {truncate_id(cid)}", True), True
        if soft and active_reference and self.store.references(image_id):
            return conflict("image is referenced in multiple repositories", False), False
        if soft:
            for cid, running in users:
                if not running:
                    return conflict(f"image is being used by stopped container {truncate_id(cid)}", False), True
        return None

    def _check_conflict(self, image_id: str, *, hard: bool, soft: bool, active_reference: bool = True) -> None:
        found = self._conflict(image_id, hard=hard, soft=soft, active_reference=active_reference)
        if found is not None:
            raise found[0]

    def _delete_helper(
        self, image_id: str, records: list[DeleteRecord], *, force: bool, prune: bool, quiet: bool
    ) -> None:
        found = self._conflict(image_id, hard=True, soft=not force)
        if found is not None:
            exc, used = found
            # Quietly keep an image that still has names or that a container uses.
            if quiet and (not self._is_dangling(image_id) or used):
                return
            raise exc
        parent = self.store.get(image_id).parent
        for r in self.store.references(image_id):
            self.store.untag(r)
            records.append(DeleteRecord(untagged=reference.parse_normalized(r).familiar()))
        released = self.store.delete(image_id)
        self.events.publish("image", "delete", image_id, {"name": image_id})
        records.append(DeleteRecord(deleted=image_id))
        records.extend(DeleteRecord(deleted=c) for c in released)
        if prune and parent and self.store.exists(parent):
            self._delete_helper(parent, records, force=False, prune=True, quiet=True)

    def _is_dangling(self, image_id: str) -> bool:
        """moby's imageIsDangling: no name and no child image (a parent of another image is
        kept quietly when its last name goes)."""
        return not self.store.references(image_id) and not self.store.children(image_id)

    def prune(self, *, dangling_only: bool, filters: Filters) -> tuple[list[DeleteRecord], int]:
        """``image prune``: dangling images (or, with ``-a``, all unused ones) and the layers they
        alone held. Returns the records and the bytes reclaimed."""
        until = min(parse_api_timestamp(v) for v in filters.get("until")) if "until" in filters else None
        records: list[DeleteRecord] = []
        reclaimed = 0
        changed = True
        while changed:  # removing a child can make its parent prunable
            changed = False
            images = self.store.all()
            parents = {i.parent for i in images if i.parent}
            for img in images:
                if img.id in parents or self.users.users_of(img.id):
                    continue
                if dangling_only and (img.repo_tags or img.repo_digests):
                    continue
                if until is not None and img.created_ns > until:
                    continue
                if "label" in filters and not filters.match_labels("label", dict(img.labels)):
                    continue
                if "label!" in filters and filters.match_labels("label!", dict(img.labels)):
                    continue
                sizes = {c: layer.size for c in img.chain_ids if (layer := self.store.layer(c)) is not None}
                for r in self.store.references(img.id):
                    self.store.untag(r)
                    records.append(DeleteRecord(untagged=reference.parse_normalized(r).familiar()))
                released = self.store.delete(img.id)
                self.events.publish("image", "delete", img.id, {"name": img.id})
                records.append(DeleteRecord(deleted=img.id))
                records.extend(DeleteRecord(deleted=c) for c in released)
                reclaimed += sum(sizes.get(c, 0) for c in released)
                changed = True
        return records, reclaimed


def is_id_reference(name: str, image_id: str) -> bool:
    text = name[7:] if name.startswith("sha256:") else name
    return (
        bool(text)
        and dg.hex_of(image_id).startswith(text)
        and all(c in "0123456789abcdef" for c in text)
        and not _is_tag_named(name)
    )


def _is_tag_named(name: str) -> bool:
    return ":" in name.split("/")[-1] and not name.startswith("sha256:")


def _is_single_reference(refs: list[str]) -> bool:
    if len(refs) <= 1:
        return len(refs) == 1
    single: str | None = None
    canonical_repos: set[str] = set()
    for r in refs:
        if "@" in r:
            canonical_repos.add(r.split("@", 1)[0])
        elif single is None:
            single = r
        else:
            return False
    if single is None:
        single = refs[0]
    repo = single.split("@", 1)[0] if "@" in single else single.rsplit(":", 1)[0]
    return len(canonical_repos) == 1 and repo in canonical_repos


def _matches_reference(img: Image, patterns: tuple[str, ...]) -> bool:
    import fnmatch

    for t in (*img.repo_tags, *img.repo_digests):
        ref = reference.parse_normalized(t)
        familiar = ref.familiar()
        repo = ref.familiar_name
        for p in patterns:
            if fnmatch.fnmatchcase(familiar, p) or fnmatch.fnmatchcase(repo, p) or fnmatch.fnmatchcase(str(ref), p):
                return True
            if ":" not in p.split("/")[-1] and fnmatch.fnmatchcase(repo, p):
                return True
    return False


__all__ = ["MEDIA_DOCKER_CONFIG", "DeleteRecord", "ImageService", "ImageUsers"]
