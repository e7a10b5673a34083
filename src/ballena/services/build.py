"""Building images from Dockerfiles (the classic ``/build`` API, and ``ballena build``).

Each instruction makes an image, as Docker's legacy builder does, so every step can be a cache
hit: the key of a step is its parent image, the instruction, the build arguments it sees and, for
COPY/ADD, a hash of the files' content and metadata. The first miss turns the cache off for the
rest of the stage. Metadata instructions (ENV, LABEL, CMD, ...) change the config and add no
layer; RUN runs in a container of our own runtime and commits its writable layer; COPY/ADD write
a layer directly from the context, without a container.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import io
import json
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ballena.builder import parser as dfparser
from ballena.builder.dockerignore import Matcher
from ballena.builder.dockerignore import parse as parse_ignore
from ballena.builder.metadata import MetadataState
from ballena.builder.parser import Node, ParseError
from ballena.builder.shell import Lexer, ShellError
from ballena.builder.stages import PREDEFINED_ARGS, Plan, Stage, plan, stage_ref
from ballena.core.containerconfig import ContainerConfig, HostConfig
from ballena.errors import BallenaError, CommandNotRunnable, InvalidArgument, NotFound, RuntimeFailure
from ballena.pkg import archive, reference, users
from ballena.pkg import digest as dg
from ballena.pkg.compression import detect, open_decompressed
from ballena.pkg.timeutil import now_ns, rfc3339nano
from ballena.services.containers import ContainerQueries, Lifecycle, Supervisor
from ballena.services.events import EventBus
from ballena.services.images import ImageService, go_arch
from ballena.stores.images import ImageStore

Emit = Callable[[dict[str, Any]], Awaitable[None]]
NOP = "/bin/sh -c #(nop) "


class BuildError(BallenaError):
    """A build step failed; the message is what Docker prints, the code what RUN returned."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildOptions:
    tags: tuple[str, ...] = ()
    dockerfile: str = "Dockerfile"
    build_args: dict[str, str | None] = field(default_factory=dict)
    no_cache: bool = False
    pull: bool = False
    remove: bool = True
    force_remove: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    network_mode: str = "default"
    quiet: bool = False
    cache_from: tuple[str, ...] = ()


@dataclass
class _Build:
    """One build in progress: what every step needs to know."""

    plan: Plan
    opts: BuildOptions
    emit: Emit
    context: Path
    escape: str
    results: dict[int, asyncio.Future[_State]]
    used_args: set[str] = field(default_factory=set)
    cleanup: list[Path] = field(default_factory=list)  # scratch directories to remove at the end


@dataclass
class _State:
    """One stage as it builds: its current image and what it has done."""

    image_id: str | None
    config: dict[str, Any]
    diff_ids: list[str]
    history: list[dict[str, Any]]
    args: dict[str, str | None]
    cache: bool = True
    escape: str = "\\"


class BuildService:
    def __init__(
        self,
        *,
        store: ImageStore,
        images: ImageService,
        lifecycle: Lifecycle,
        supervisor: Supervisor,
        queries: ContainerQueries,
        events: EventBus,
        tmp_dir: Path,
        pull: Callable[[str, Emit], Awaitable[str]] | None = None,
    ) -> None:
        self.store = store
        self.images = images
        self.lifecycle = lifecycle  # RUN steps run in containers of ours
        self.supervisor = supervisor
        self.queries = queries
        self.events = events
        self.tmp_dir = tmp_dir
        self.pull = pull

    # -- the context --------------------------------------------------------------------------

    def unpack_context(self, spooled: Path, dest: Path) -> str | None:
        """Extract a context archive (any compression) into ``dest``; a body that is not an
        archive is a Dockerfile with an empty context (``docker build - < Dockerfile``): its
        text is returned. Blocking."""
        with open(spooled, "rb") as f:
            head = f.read(512)
        kind = detect(head)
        if kind == "none" and not _looks_like_tar(head):
            return spooled.read_text(encoding="utf-8", errors="replace")
        dest.mkdir(parents=True, exist_ok=True)
        with open(spooled, "rb") as raw:
            stream, _ = open_decompressed(raw)
            try:
                archive.apply_layer(stream, str(dest))  # path checks included; whiteouts are unlikely
            except InvalidArgument as e:
                raise InvalidArgument(f"failed to read the build context: {e.message}") from None
        return None

    @staticmethod
    def apply_dockerignore(context: Path, dockerfile: str) -> None:
        ignore = context / (dockerfile + ".dockerignore")
        if not ignore.is_file():
            ignore = context / ".dockerignore"
        if not ignore.is_file():
            return
        matcher = Matcher(parse_ignore(ignore.read_text(errors="replace")))
        keep = {posixpath.normpath(dockerfile), ".dockerignore"}
        for root, dirs, files in os.walk(context, topdown=True):
            rel_root = os.path.relpath(root, context)
            for name in list(dirs):
                rel = name if rel_root == "." else f"{rel_root}/{name}"
                if matcher.excluded(rel) and not matcher.has_exclusions():
                    shutil.rmtree(os.path.join(root, name))
                    dirs.remove(name)
            for name in files:
                rel = name if rel_root == "." else f"{rel_root}/{name}"
                if rel not in keep and matcher.excluded(rel):
                    os.unlink(os.path.join(root, name))

    # -- the build ------------------------------------------------------------------------------

    async def build(self, *, context: Path, dockerfile_text: str | None, opts: BuildOptions, emit: Emit) -> str:
        """Build, streaming Docker's messages through ``emit``. Returns the image ID.

        Raises BuildError (step failures), InvalidArgument (bad Dockerfile or options).
        """
        if dockerfile_text is None:
            path = context / opts.dockerfile
            try:
                dockerfile_text = path.read_text(encoding="utf-8")
            except (FileNotFoundError, IsADirectoryError):
                raise InvalidArgument(f"Cannot locate specified Dockerfile: {opts.dockerfile}") from None
        parsed = dfparser.parse(dockerfile_text)
        p = plan(parsed.nodes, build_args=opts.build_args, target=opts.target, escape=parsed.escape)
        total = 0
        step_of: dict[int, int] = {}
        for i in p.needed:
            step_of[i] = total
            total += 1 + len(p.stages[i].nodes)
        loop = asyncio.get_running_loop()
        b = _Build(
            plan=p,
            opts=opts,
            emit=emit,
            context=context,
            escape=parsed.escape,
            results={i: loop.create_future() for i in p.needed},
        )
        results = b.results

        async def run_stage(i: int) -> None:
            try:
                for dep in p.stages[i].deps:
                    await results[dep]
                state = await self._stage(b, p.stages[i], step_of[i], total)
                results[i].set_result(state)
            except BaseException as e:
                if not results[i].done():
                    results[i].set_exception(e)
                raise

        tasks = [asyncio.ensure_future(run_stage(i)) for i in p.needed]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            for d in b.cleanup:
                shutil.rmtree(d, ignore_errors=True)
        final = results[p.target].result()
        unused = sorted(k for k in opts.build_args if k not in b.used_args and k not in PREDEFINED_ARGS)
        if unused:
            await emit({"stream": f"[Warning] One or more build-args {unused} were not consumed\n"})
        if opts.labels:
            final = await self._apply_labels(final, opts.labels)
        assert final.image_id is not None
        image_id = final.image_id
        await emit({"aux": {"ID": image_id}})
        if not opts.quiet:
            await emit({"stream": f"Successfully built {dg.short(image_id)}\n"})
        for tag in opts.tags:
            ref = reference.parse_normalized(tag).tagged_or_latest()
            self.store.tag(ref, image_id)
            self.events.publish("image", "tag", image_id, {"name": ref.familiar()})
            if not opts.quiet:
                await emit({"stream": f"Successfully tagged {ref.familiar()}\n"})
        return image_id

    async def _stage(self, b: _Build, s: Stage, first_step: int, total: int) -> _State:
        opts, emit, escape = b.opts, b.emit, b.escape
        step = first_step + 1
        await self._say(emit, opts, f"Step {step}/{total} : {s.from_node.original.strip()}\n")
        state = await self._from(b, s)
        state.escape = escape
        # Global ARGs may be redeclared in a stage; their values come from the build args.
        await self._say(emit, opts, f" ---> {dg.short(state.image_id) if state.image_id else 'scratch'}\n")
        triggers = list(state.config.get("OnBuild") or [])
        if triggers:
            state.config["OnBuild"] = None
            await self._say(
                emit, opts, f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n"
            )
            for trigger in triggers:
                node = dfparser.parse_line(trigger, escape=escape)
                await self._instruction(b, state, node)
        for node in s.nodes:
            step += 1
            await self._say(emit, opts, f"Step {step}/{total} : {node.original.strip()}\n")
            await self._instruction(b, state, node)
            await self._say(emit, opts, f" ---> {dg.short(state.image_id) if state.image_id else 'scratch'}\n")
        if state.image_id is None:
            state = await self._commit_config(state, "", empty=True)
        return state

    @staticmethod
    async def _say(emit: Emit, opts: BuildOptions, text: str) -> None:
        if not opts.quiet:
            await emit({"stream": text})

    async def _from(self, b: _Build, s: Stage) -> _State:
        opts, emit = b.opts, b.emit
        if s.base_stage is not None:
            base = await b.results[s.base_stage]
            return _State(
                image_id=base.image_id,
                config=json.loads(json.dumps(base.config)),
                diff_ids=list(base.diff_ids),
                history=list(base.history),
                args={},
            )
        if s.base.lower() == "scratch":
            return _State(
                image_id=None,
                config={"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
                diff_ids=[],
                history=[],
                args={},
            )
        image_id = await self._resolve_image(s.base, opts, emit)
        img = self.store.get(image_id)
        cfg = json.loads(json.dumps(dict(img.run_config)))
        return _State(
            image_id=image_id,
            config=cfg,
            diff_ids=list(img.config["rootfs"]["diff_ids"]),
            history=list(img.config.get("history") or []),
            args={},
        )

    async def _resolve_image(self, name: str, opts: BuildOptions, emit: Emit) -> str:
        if opts.pull and self.pull is not None:
            return await self.pull(name, emit)
        try:
            return self.store.resolve(name)
        except NotFound:
            if self.pull is None:
                raise
            return await self.pull(name, emit)

    # -- instructions -----------------------------------------------------------------------------

    def _env(self, state: _State) -> dict[str, str]:
        """What ``$VAR`` means in an instruction: ARGs, then ENV over them."""
        env = {k: v for k, v in state.args.items() if v is not None}
        for item in state.config.get("Env") or []:
            k, _, v = item.partition("=")
            env[k] = v
        return env

    async def _instruction(self, b: _Build, state: _State, node: Node) -> None:
        p, opts, emit, used_args = b.plan, b.opts, b.emit, b.used_args
        cmd = node.cmd
        if cmd == "arg":
            for word in node.args:
                key, eq, default = word.partition("=")
                lexed_default = Lexer(state.escape).process_word(default, self._env(state)) if eq else None
                if key in opts.build_args:
                    used_args.add(key)
                    value = opts.build_args[key]
                    if value is None:
                        value = os.environ.get(key, lexed_default)
                elif key in p.global_args and p.global_args[key] is not None and not eq:
                    value = p.global_args[key]
                else:
                    value = lexed_default
                state.args[key] = value
            key = self._key(state, node.original)
            if not await self._cached(state, key, opts, emit):
                await self._commit_config(state, f"{NOP}ARG {' '.join(node.args)}", empty=True, cache_key=key)
            return
        if cmd in ("run",):
            await self._run(state, node, opts, emit, used_args)
            return
        if cmd in ("copy", "add"):
            await self._copy(b, state, node)
            return
        if cmd == "from":
            raise InvalidArgument("FROM is not allowed here")
        if cmd == "onbuild" and node.sub is not None and node.sub.cmd in ("onbuild", "from", "maintainer"):
            raise InvalidArgument(f"{node.sub.value.upper()} isn't allowed as an ONBUILD trigger")
        # Metadata: change the config, no layer.
        key = self._key(state, node.original)
        if await self._cached(state, key, opts, emit):
            return
        meta = MetadataState(
            state.config, escape=state.escape, build_args={k: v for k, v in state.args.items() if v is not None}
        )
        try:
            meta.apply(node)
        except ShellError as e:
            raise InvalidArgument(e.message) from None
        if cmd == "maintainer":
            state.config["_maintainer"] = node.args[0] if node.args else ""
        text = _nop_text(node)
        await self._commit_config(state, text, empty=True, cache_key=key)

    def _key(self, state: _State, text: str, extra: Any = None) -> str:
        payload = json.dumps(
            {
                "parent": state.image_id or "scratch",
                "text": text,
                "extra": extra,
                "config": state.config,
                "args": {k: v for k, v in state.args.items()},
            },
            sort_keys=True,
            default=str,
        )
        return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()

    async def _cached(self, state: _State, key: str, opts: BuildOptions, emit: Emit) -> bool:
        if opts.no_cache or not state.cache:
            state.cache = False
            return False
        rows = self.store.db.query("SELECT image_id FROM build_cache WHERE key=?", (key,))
        if not rows or not self.store.exists(str(rows[0][0])):
            state.cache = False
            return False
        image_id = str(rows[0][0])
        with self.store.db.tx() as conn:
            conn.execute("UPDATE build_cache SET last_used=? WHERE key=?", (now_ns(), key))
        img = self.store.get(image_id)
        state.image_id = image_id
        state.config = json.loads(json.dumps(dict(img.run_config)))
        state.diff_ids = list(img.config["rootfs"]["diff_ids"])
        state.history = list(img.config.get("history") or [])
        await self._say(emit, opts, " ---> Using cache\n")
        return True

    def _remember(self, key: str, image_id: str) -> None:
        with self.store.db.tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO build_cache(key, image_id, created, last_used) VALUES (?,?,?,?)",
                (key, image_id, now_ns(), now_ns()),
            )

    async def _commit_config(
        self,
        state: _State,
        created_by: str,
        *,
        empty: bool,
        cache_key: str | None = None,
        layer_diff: str | None = None,
    ) -> _State:
        cfg = {k: v for k, v in state.config.items() if not k.startswith("_")}
        created = rfc3339nano(now_ns())
        entry: dict[str, Any] = {"created": created, "created_by": created_by}
        if empty:
            entry["empty_layer"] = True
        diff_ids = list(state.diff_ids) + ([layer_diff] if layer_diff else [])
        doc: dict[str, Any] = {
            "architecture": go_arch(),
            "config": cfg,
            "created": created,
            "history": [*state.history, entry],
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        if state.config.get("_maintainer"):
            doc["author"] = state.config["_maintainer"]
        image_id = await asyncio.to_thread(
            self.store.put_image, json.dumps(doc, separators=(",", ":")).encode(), parent=state.image_id or ""
        )
        state.image_id = image_id
        state.diff_ids = diff_ids
        state.history = doc["history"]
        if cache_key:
            self._remember(cache_key, image_id)
        return state

    # -- RUN ---------------------------------------------------------------------------------------

    async def _run(self, state: _State, node: Node, opts: BuildOptions, emit: Emit, used_args: set[str]) -> None:
        shell = list(state.config.get("Shell") or ["/bin/sh", "-c"])
        cmd = list(node.args) if node.json else shell + [_with_heredocs(node)]
        arg_env = {k: v for k, v in state.args.items() if v is not None}
        for k in opts.build_args:
            if k in PREDEFINED_ARGS and opts.build_args[k] is not None:
                arg_env[k] = str(opts.build_args[k])
                used_args.add(k)
        visible = {k: v for k, v in arg_env.items() if k not in PREDEFINED_ARGS}
        prefix = f"|{len(visible)} " + " ".join(f"{k}={v}" for k, v in sorted(visible.items())) + " " if visible else ""
        created_by = prefix + " ".join(cmd)
        key = self._key(state, "RUN " + json.dumps(cmd), extra=sorted(arg_env.items()))
        if await self._cached(state, key, opts, emit):
            return
        if state.image_id is None:
            raise BuildError("RUN needs a base image: a scratch stage has no shell (use COPY first)")
        env = list(state.config.get("Env") or [])
        keys = {e.partition("=")[0] for e in env}
        env += [f"{k}={v}" for k, v in arg_env.items() if k not in keys]
        config = ContainerConfig(
            image=state.image_id,
            cmd=tuple(cmd),
            entrypoint=("",),
            env=tuple(env),
            user=state.config.get("User") or "",
            working_dir=state.config.get("WorkingDir") or "",
            attach_stdout=True,
            attach_stderr=True,
            labels={},
        )
        host_config = HostConfig(network_mode=opts.network_mode or "default")
        c, _ = await self.lifecycle.create(name=None, config=config, host_config=host_config)
        try:
            await self._say(emit, opts, f" ---> Running in {c.short_id}\n")
            sub = await self.supervisor.attach(c, stdout=True, stderr=True)
            try:
                await self.lifecycle.start(c.id)
            except (CommandNotRunnable, RuntimeFailure) as e:
                raise BuildError(e.message, e.exit_code) from None
            while True:
                item = await sub.queue.get()
                if item is None:
                    break
                if not opts.quiet:
                    await emit({"stream": item[1].decode("utf-8", errors="replace")})
            await self.lifecycle.wait(c.id)
            code = self.queries.get(c.id).state.exit_code
            if code != 0:
                raise BuildError(f"The command '{' '.join(cmd)}' returned a non-zero code: {code}", code)
            image_config = json.loads(json.dumps(state.config))
            layer = await asyncio.to_thread(self._commit_container_layer, c.id, state)
            state.config = image_config
            await self._commit_config(state, created_by, empty=False, cache_key=key, layer_diff=layer)
        finally:
            try:
                await self.lifecycle.remove(c.id, force=True, volumes=True)
                if opts.remove or opts.force_remove:
                    await self._say(emit, opts, f" ---> Removed intermediate container {c.short_id}\n")
            except NotFound:
                pass

    def _commit_container_layer(self, cid: str, state: _State) -> str:
        upper = self.store.snapshots.upper_dir(cid)
        with self.store.content.writer() as w:
            archive.write_layer_from_upper(str(upper), w)  # type: ignore[arg-type]
            blob = w.commit()
        parent = dg.chain_ids(state.diff_ids)[-1] if state.diff_ids else None
        return self.store.register_layer(blob, parent_chain=parent).diff_id

    # -- COPY / ADD --------------------------------------------------------------------------------

    async def _copy(self, b: _Build, state: _State, node: Node) -> None:
        opts, emit = b.opts, b.emit
        flags = {f.split("=", 1)[0][2:]: (f.split("=", 1)[1] if "=" in f else "true") for f in node.flags}
        for name in flags:
            if name not in ("from", "chown", "chmod", "link", "checksum", "keep-git-dir", "exclude", "parents"):
                raise InvalidArgument(f"Unknown flag: {name}")
        if len(node.args) < 2:
            raise InvalidArgument(
                f"{node.cmd.upper()} requires at least two arguments, but only one was provided. "
                "Destination could not be determined."
            )
        env = self._env(state)
        lexer = Lexer(state.escape)
        try:
            words = [lexer.process_word(a, env) for a in node.args]
        except ShellError as e:
            raise InvalidArgument(e.message) from None
        sources, dest = words[:-1], words[-1]
        workdir = state.config.get("WorkingDir") or "/"
        if not dest.startswith("/"):
            dest = posixpath.join(workdir, dest) + ("/" if dest.endswith("/") or dest in (".", "./") else "")
        src_root, layers = await self._source(b, flags.get("from"))
        inline = {f"<<{d.name}": d for d in node.heredocs}
        if inline and any(s in inline for s in sources):
            if not all(s in inline for s in sources) or flags.get("from"):
                raise InvalidArgument(f"{node.cmd.upper()}: heredoc sources cannot be mixed with files")
            # COPY <<EOF dest: each heredoc becomes a file of that name, its variables expanded
            # from the build's ARGs and ENV unless the delimiter is quoted (as BuildKit does).
            docs_dir = Path(tempfile.mkdtemp(prefix="heredoc-", dir=self.tmp_dir))
            b.cleanup.append(docs_dir)
            for word in sources:
                doc = inline[word]
                text = lexer.process_word(doc.content, env) if doc.expand else doc.content
                (docs_dir / doc.name).write_text(text)
            src_root, sources = str(docs_dir), [inline[w].name for w in sources]
        entries = await asyncio.to_thread(self._collect, node.cmd, src_root, layers, sources, dest, flags, state)
        key = self._key(state, f"{node.cmd.upper()} {node.flags} {dest}", extra=entries.content_hash)
        if await self._cached(state, key, opts, emit):
            return
        layer = await asyncio.to_thread(self._write_layer, entries, state)
        short = entries.content_hash[:16]
        created_by = f"{NOP}{node.cmd.upper()} {'dir' if entries.dirs else 'file'}:{short} in {dest} "
        await self._commit_config(state, created_by, empty=False, cache_key=key, layer_diff=layer)

    async def _source(self, b: _Build, from_value: str | None) -> tuple[str | None, list[str]]:
        """Where COPY reads: the context (a directory), or another stage's or an image's layers."""
        if from_value is None:
            return str(b.context), []
        idx = stage_ref(from_value, b.plan.stages)
        if idx is not None:
            st = await b.results[idx]
            chains = dg.chain_ids(st.diff_ids)
        else:
            image_id = await self._resolve_image(from_value, b.opts, b.emit)
            chains = list(self.store.get(image_id).chain_ids)
        return None, [str(self.store.snapshots.upper_dir(c)) for c in reversed(chains)]

    def _collect(
        self,
        cmd: str,
        root: str | None,
        layers: list[str],
        sources: list[str],
        dest: str,
        flags: dict[str, str],
        state: _State,
    ) -> _Entries:
        out = _Entries()
        matched: list[tuple[str, str, os.stat_result]] = []  # (relative source, real path, stat)
        remote: list[str] = []
        for src in sources:
            if cmd == "add" and urllib.parse.urlparse(src).scheme in ("http", "https"):
                remote.append(src)
                continue
            if urllib.parse.urlparse(src).scheme in ("http", "https"):
                raise InvalidArgument("source can't be a URL for COPY")
            clean = posixpath.normpath("/" + src).lstrip("/")
            if src.startswith("..") or posixpath.normpath(src).startswith(".."):
                raise InvalidArgument(f"Forbidden path outside the build context: {src} ()")
            found = self._glob(root, layers, clean)
            if not found:
                raise BuildError(
                    f"COPY failed: file not found in build context or excluded by .dockerignore: stat "
                    f"{src}: file does not exist"
                    if root is not None
                    else f"COPY failed: stat {src}: file does not exist"
                )
            matched.extend(found)
        if len(matched) + len(remote) > 1 and not dest.endswith("/"):
            raise InvalidArgument(
                f"When using {cmd.upper()} with more than one source file, the destination must be "
                "a directory and end with a /"
            )
        uid = gid = 0
        if flags.get("chown"):
            uid, gid = self._chown(flags["chown"], state)
        mode = int(flags["chmod"], 8) if flags.get("chmod") else None
        dest_is_dir = dest.endswith("/") or len(matched) + len(remote) > 1
        dest_clean = posixpath.normpath(dest)
        existing = self._exists_dir(state, dest_clean)
        h = hashlib.sha256()
        h.update(json.dumps([dest, uid, gid, mode]).encode())
        for rel, real, st in matched:
            if stat.S_ISDIR(st.st_mode):
                out.dirs = True
                base = dest_clean
                if not self._exists_dir(state, base):
                    out.new_dir(base, uid, gid, mode)
                for sub_rel, sub_real, sub_st in self._walk(root, layers, rel, real):
                    target = posixpath.join(base, sub_rel)
                    out.add(target, sub_real, sub_st, uid, gid, mode, h)
            else:
                is_archive = cmd == "add" and stat.S_ISREG(st.st_mode) and _is_archive(real)
                if is_archive:
                    out.archives.append((real, dest_clean))
                    with open(real, "rb") as f:
                        while chunk := f.read(1 << 20):
                            h.update(chunk)
                    continue
                if dest_is_dir or existing:
                    target = posixpath.join(dest_clean, posixpath.basename(rel))
                else:
                    target = dest_clean
                out.add(target, real, st, uid, gid, mode, h)
        for url in remote:
            data, name, mtime = _download(url, flags.get("checksum"))
            h.update(url.encode())
            h.update(hashlib.sha256(data).digest())
            target = posixpath.join(dest_clean, name) if (dest_is_dir or existing) else dest_clean
            out.blobs.append((target, data, mode if mode is not None else 0o600, uid, gid, mtime))
        out.content_hash = h.hexdigest()
        return out

    def _glob(self, root: str | None, layers: list[str], pattern: str) -> list[tuple[str, str, os.stat_result]]:
        if root is not None:
            if not any(c in pattern for c in "*?["):
                path = os.path.join(root, pattern) if pattern else root
                try:
                    return [(pattern, path, os.lstat(path))] if pattern else [("", root, os.stat(root))]
                except FileNotFoundError:
                    return []
            out = []
            for dirpath, dirnames, filenames in os.walk(root):
                for name in dirnames + filenames:
                    rel = os.path.relpath(os.path.join(dirpath, name), root)
                    if fnmatch.fnmatchcase(rel, pattern) and rel.count("/") == pattern.count("/"):
                        full = os.path.join(dirpath, name)
                        out.append((rel, full, os.lstat(full)))
            return sorted(out)
        found = archive.lookup_in_layers(layers, pattern)
        return [(pattern, found, os.lstat(found))] if found else []

    @staticmethod
    def _walk(root: str | None, layers: list[str], rel: str, real: str) -> list[tuple[str, str, os.stat_result]]:
        out = []
        if root is not None:
            for dirpath, dirnames, filenames in os.walk(real):
                dirnames.sort()
                for name in sorted(dirnames) + sorted(filenames):
                    full = os.path.join(dirpath, name)
                    out.append((os.path.relpath(full, real), full, os.lstat(full)))
            return out
        for path, r, st in archive.walk_union(layers, rel):
            out.append((path[len(rel) :].lstrip("/") if rel else path, r, st))
        return out

    def _chown(self, spec: str, state: _State) -> tuple[int, int]:
        layers = [str(self.store.snapshots.upper_dir(c)) for c in reversed(dg.chain_ids(state.diff_ids))]

        def read(rel: str) -> str | None:
            found = archive.lookup_in_layers(layers, rel)
            if found is None:
                return None
            with open(found, errors="replace") as f:
                return f.read()

        user, _, group = spec.partition(":")
        try:
            u = users.resolve(
                f"{user}:{group or user}" if group or not user.isdigit() else user,
                read("etc/passwd"),
                read("etc/group"),
            )
        except InvalidArgument:
            if user.isdigit() and (not group or group.isdigit()):
                return int(user), int(group or user)
            raise
        return u.uid, u.gid if group or not user.isdigit() else int(user)

    def _exists_dir(self, state: _State, path: str) -> bool:
        layers = [str(self.store.snapshots.upper_dir(c)) for c in reversed(dg.chain_ids(state.diff_ids))]
        found = archive.lookup_in_layers(layers, path.lstrip("/"))
        return bool(found) and os.path.isdir(found)  # type: ignore[arg-type]

    def _write_layer(self, entries: _Entries, state: _State) -> str:
        """A layer tarball of the copied files, with the parents they need (keeping the metadata
        the image already gives those directories)."""
        layers = [str(self.store.snapshots.upper_dir(c)) for c in reversed(dg.chain_ids(state.diff_ids))]
        now = int(time.time())
        written: set[str] = set()
        with self.store.content.writer() as w:
            with archive.tar_writer(w) as tf:

                def parents(path: str) -> None:
                    parts = path.strip("/").split("/")[:-1]
                    for i in range(1, len(parts) + 1):
                        d = "/".join(parts[:i])
                        if d in written:
                            continue
                        written.add(d)
                        ti = tarfile.TarInfo(d + "/")
                        ti.type = tarfile.DIRTYPE
                        lower = archive.lookup_in_layers(layers, d)
                        if lower is not None and os.path.isdir(lower):
                            st = os.lstat(lower)
                            ti.mode, ti.uid, ti.gid, ti.mtime = (
                                stat.S_IMODE(st.st_mode),
                                st.st_uid,
                                st.st_gid,
                                int(st.st_mtime),
                            )
                        else:
                            ti.mode, ti.mtime = 0o755, now
                        tf.addfile(ti)

                for target, duid, dgid, dmode in entries.created_dirs:
                    rel = target.strip("/")
                    if rel and rel not in written:
                        parents(target)
                        written.add(rel)
                        ti = tarfile.TarInfo(rel + "/")
                        ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = tarfile.DIRTYPE, dmode, duid, dgid, now
                        tf.addfile(ti)
                for target, real, st, uid, gid, mode in entries.files:
                    rel = target.strip("/")
                    if not rel:
                        continue
                    parents(target)
                    if rel in written and stat.S_ISDIR(st.st_mode):
                        continue
                    ti = tarfile.TarInfo(rel)
                    ti.uid, ti.gid, ti.mtime = uid, gid, int(st.st_mtime)
                    ti.mode = mode if mode is not None else stat.S_IMODE(st.st_mode)
                    if stat.S_ISDIR(st.st_mode):
                        ti.type = tarfile.DIRTYPE
                        written.add(rel)
                        tf.addfile(ti)
                    elif stat.S_ISLNK(st.st_mode):
                        ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(real)
                        tf.addfile(ti)
                    elif stat.S_ISREG(st.st_mode):
                        ti.size = st.st_size
                        with open(real, "rb") as f:
                            tf.addfile(ti, f)
                for target, data, mode, uid, gid, mtime in entries.blobs:
                    parents(target)
                    ti = tarfile.TarInfo(target.strip("/"))
                    ti.size, ti.mode, ti.uid, ti.gid, ti.mtime = len(data), mode, uid, gid, mtime
                    tf.addfile(ti, io.BytesIO(data))
                for src, dest in entries.archives:
                    d = dest.strip("/")
                    if d:
                        parents(d + "/x")
                    with open(src, "rb") as raw:
                        stream, _ = open_decompressed(raw)
                        with tarfile.open(fileobj=stream, mode="r|") as inner:
                            for m in inner:
                                name = archive.clean_path(m.name)
                                if not name:
                                    continue
                                m.name = f"{d}/{name}" if d else name
                                if m.islnk():
                                    m.linkname = f"{d}/{archive.clean_path(m.linkname)}" if d else m.linkname
                                tf.addfile(m, inner.extractfile(m) if m.isreg() else None)
            blob = w.commit()
        parent = dg.chain_ids(state.diff_ids)[-1] if state.diff_ids else None
        return self.store.register_layer(blob, parent_chain=parent).diff_id

    async def _apply_labels(self, state: _State, labels: dict[str, str]) -> _State:
        merged = dict(state.config.get("Labels") or {})
        merged.update(labels)
        state.config["Labels"] = merged
        return await self._commit_config(
            state, f"{NOP}LABEL " + " ".join(f"{k}={v}" for k, v in labels.items()), empty=True
        )

    # -- the cache ------------------------------------------------------------------------------

    def cache_usage(self) -> list[dict[str, Any]]:
        """``system df``'s build cache: steps whose image nothing else keeps alive."""
        out = []
        for key, image_id, created, last_used in self.store.db.query(
            "SELECT key, image_id, created, last_used FROM build_cache"
        ):
            try:
                img = self.store.get(str(image_id))
            except NotFound:
                continue
            in_use = bool(img.repo_tags)
            out.append(
                {
                    "ID": str(key)[7:19],
                    "Parents": [img.parent[7:19]] if img.parent else None,
                    "Type": "regular",
                    "Description": (img.config.get("history") or [{}])[-1].get("created_by", ""),
                    "InUse": in_use,
                    "Shared": False,
                    "Size": 0 if img.config.get("history", [{}])[-1].get("empty_layer") else self._top_size(img.id),
                    "CreatedAt": rfc3339nano(int(created)),
                    "LastUsedAt": rfc3339nano(int(last_used)),
                    "UsageCount": 1,
                }
            )
        return out

    def _top_size(self, image_id: str) -> int:
        img = self.store.get(image_id)
        layer = self.store.layer(img.chain_ids[-1]) if img.chain_ids else None
        return layer.size if layer else 0

    def prune(self, *, all_: bool, filters: Any = None) -> tuple[list[str], int]:
        """Forget cache entries and remove the images only the cache kept."""
        removed: list[str] = []
        reclaimed = 0
        for key, image_id in self.store.db.query("SELECT key, image_id FROM build_cache"):
            image_id = str(image_id)
            with self.store.db.tx() as conn:
                conn.execute("DELETE FROM build_cache WHERE key=?", (key,))
            removed.append(str(key)[7:19])
            if not self.store.exists(image_id):
                continue
            img = self.store.get(image_id)
            if (
                img.repo_tags
                or img.repo_digests
                or self.store.children(image_id)
                or self.images.users.users_of(image_id)
            ):
                continue
            size = self._top_size(image_id)
            try:
                self.images.remove(image_id, force=False, prune=True)
                reclaimed += size
            except BallenaError:
                pass
        return removed, reclaimed


@dataclass
class _Entries:
    files: list[tuple[str, str, os.stat_result, int, int, int | None]] = field(default_factory=list)
    blobs: list[tuple[str, bytes, int, int, int, int]] = field(default_factory=list)
    archives: list[tuple[str, str]] = field(default_factory=list)
    created_dirs: list[tuple[str, int, int, int]] = field(default_factory=list)
    dirs: bool = False
    content_hash: str = ""

    def new_dir(self, target: str, uid: int, gid: int, mode: int | None) -> None:
        """A destination directory COPY creates (0755, or --chmod; owned by --chown)."""
        self.created_dirs.append((target, uid, gid, mode if mode is not None else 0o755))

    def add(self, target: str, real: str, st: os.stat_result, uid: int, gid: int, mode: int | None, h: Any) -> None:
        self.files.append((target, real, st, uid, gid, mode))
        h.update(target.encode())
        h.update(f"{stat.S_IFMT(st.st_mode)}:{stat.S_IMODE(st.st_mode)}:{st.st_size}".encode())
        if stat.S_ISREG(st.st_mode):
            with open(real, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        elif stat.S_ISLNK(st.st_mode):
            h.update(os.readlink(real).encode())


def _nop_text(node: Node) -> str:
    rest = node.original.strip()[len(node.value) :].strip()
    return f"{NOP} {node.value.upper()} {rest}"


def _looks_like_tar(head: bytes) -> bool:
    return len(head) >= 262 and head[257:262] == b"ustar"


def _is_archive(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    if detect(head) != "none" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return tarfile.is_tarfile(path)
    return _looks_like_tar(head)


def _download(url: str, checksum: str | None) -> tuple[bytes, str, int]:
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            data = resp.read()
            modified = resp.headers.get("Last-Modified")
    except OSError as e:
        raise BuildError(f"failed to download {url}: {e}") from None
    if checksum:
        algo, _, expected = checksum.partition(":")
        if algo != "sha256" or hashlib.sha256(data).hexdigest() != expected:
            raise BuildError(
                f"checksum mismatch for {url}: expected {checksum}, got sha256:{hashlib.sha256(data).hexdigest()}"
            )
    name = posixpath.basename(urllib.parse.urlparse(url).path) or "index.html"
    mtime = int(time.time())
    if modified:
        import email.utils

        parsed = email.utils.parsedate_to_datetime(modified)
        mtime = int(parsed.timestamp())
    return data, name, mtime


__all__ = ["BuildError", "BuildOptions", "BuildService", "ParseError", "replace"]


def _with_heredocs(node: Node) -> str:
    """The shell-form command of a RUN, with its heredocs (BuildKit's rules): a RUN that is
    only a heredoc runs that heredoc as its script (through its ``#!`` line if it has one);
    otherwise the shell gets the whole text and reads the heredocs itself."""
    line = node.args[0] if node.args else ""
    if not node.heredocs:
        return line
    doc = node.heredocs[0]
    if len(node.heredocs) == 1 and line.strip().lstrip("<").lstrip("-").strip("'\"") == doc.name:
        if not doc.content.startswith("#!"):
            return doc.content
        marker = "BALLENA_HEREDOC_EOF"
        return f'f=$(mktemp) && cat > "$f" <<\'{marker}\'\n{doc.content}{marker}\nchmod +x "$f" && exec "$f"'
    return line + "\n" + "".join(d.content + d.name + "\n" for d in node.heredocs)
