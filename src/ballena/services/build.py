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
import json
import os
import posixpath
import shutil
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ballena.builder import parser as dfparser
from ballena.builder.cache import BuildCache, CacheRecord, step_key
from ballena.builder.context import BuildContext
from ballena.builder.copying import COPY_FLAGS, CopyEntries, Source, collect, write_layer
from ballena.builder.metadata import MetadataState
from ballena.builder.parser import Node, ParseError
from ballena.builder.shell import Lexer, ShellError
from ballena.builder.stages import PREDEFINED_ARGS, Plan, Stage, plan, stage_ref
from ballena.core.containerconfig import ContainerConfig, HostConfig
from ballena.errors import BallenaError, CommandNotRunnable, InvalidArgument, NotFound, RuntimeFailure
from ballena.pkg import archive, reference
from ballena.pkg import digest as dg
from ballena.pkg.platforms import go_arch
from ballena.pkg.timeutil import now_ns, rfc3339nano
from ballena.services.containers import ContainerQueries, Lifecycle, Supervisor
from ballena.services.events import EventBus
from ballena.services.images import ImageService
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
    extra_hosts: tuple[str, ...] = ()  # "name:address", in every RUN step's /etc/hosts


@dataclass
class _Build:
    """One build in progress: what every step needs to know."""

    plan: Plan
    opts: BuildOptions
    emit: Emit
    context: BuildContext
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
        self.cache = BuildCache(store)

    # -- the build ------------------------------------------------------------------------------

    async def receive_context(self, chunks: AsyncIterator[bytes]) -> BuildContext:
        """The uploaded context, unpacked under the daemon's temporary directory (the caller
        closes it). Raises InvalidArgument for a body that is neither a tar nor a Dockerfile."""
        return await BuildContext.receive(chunks, self.tmp_dir)

    async def stream(self, *, context: BuildContext, opts: BuildOptions) -> AsyncGenerator[dict[str, Any], None]:
        """``build`` as a stream of its messages, then ``{"result": image_id}``; what ``build``
        raises comes after the messages before it. Closing the stream cancels the build (use
        ``contextlib.aclosing``); the caller closes the context."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        async def emit(msg: dict[str, Any]) -> None:
            queue.put_nowait(msg)

        async def run() -> str:
            try:
                return await self.build(context=context, opts=opts, emit=emit)
            finally:
                queue.put_nowait(None)

        task = asyncio.ensure_future(run())
        try:
            while (msg := await queue.get()) is not None:
                yield msg
            yield {"result": await task}
        finally:
            if not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass

    async def build(self, *, context: BuildContext, opts: BuildOptions, emit: Emit) -> str:
        """Build, streaming Docker's messages through ``emit``. Returns the image ID.

        Raises BuildError (step failures), InvalidArgument (bad Dockerfile or options),
        CopyFailed (a COPY/ADD source that cannot be had).
        """
        parsed = dfparser.parse(await asyncio.to_thread(context.dockerfile, opts.dockerfile))
        await asyncio.to_thread(context.apply_dockerignore, opts.dockerfile)
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
        if opts.quiet:  # as moby's build route: -q prints just the image ID
            await emit({"stream": f"{image_id}\n"})
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
            text = f"{NOP}ARG {' '.join(node.args)}"
            if not await self._cached(state, key, opts, emit, created_by=text):
                await self._commit_config(state, text, empty=True, cache_key=key)
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
        text = _nop_text(node)

        def applied() -> dict[str, Any]:
            config: dict[str, Any] = json.loads(json.dumps(state.config))
            meta = MetadataState(
                config, escape=state.escape, build_args={k: v for k, v in state.args.items() if v is not None}
            )
            try:
                meta.apply(node)
            except ShellError as e:
                raise InvalidArgument(e.message) from None
            if cmd == "maintainer":
                meta.config["_maintainer"] = node.args[0] if node.args else ""
            return dict(meta.config)

        if await self._cached(state, key, opts, emit, created_by=text, next_config=applied):
            return
        state.config = applied()
        await self._commit_config(state, text, empty=True, cache_key=key)

    def _key(self, state: _State, text: str, extra: Any = None) -> str:
        return step_key(parent=state.image_id, text=text, config=state.config, args=dict(state.args), extra=extra)

    async def _cached(
        self,
        state: _State,
        key: str,
        opts: BuildOptions,
        emit: Emit,
        *,
        created_by: str = "",
        next_config: Callable[[], dict[str, Any]] | None = None,
    ) -> bool:
        """Whether the step's result is known: from our own cache (``key``), else from a
        ``--cache-from`` image whose history continues this build's with ``created_by``. On a
        hit the state moves to that image."""
        if opts.no_cache or not state.cache:
            state.cache = False
            return False
        image_id = self.cache.lookup(key)
        if image_id is None and opts.cache_from and created_by:
            config = next_config() if next_config is not None else state.config
            image_id = await asyncio.to_thread(self._from_cache_sources, state, opts, created_by, config)
            if image_id is not None:
                self.cache.remember(key, image_id)
        if image_id is None:
            state.cache = False
            return False
        img = self.store.get(image_id)
        state.image_id = image_id
        state.config = json.loads(json.dumps(dict(img.run_config)))
        state.diff_ids = list(img.config["rootfs"]["diff_ids"])
        state.history = list(img.config.get("history") or [])
        await self._say(emit, opts, " ---> Using cache\n")
        return True

    def _from_cache_sources(
        self, state: _State, opts: BuildOptions, created_by: str, config: dict[str, Any]
    ) -> str | None:
        """moby's imagecache for ``--cache-from`` (the classic builder's): a source image
        whose history and layers start with this build's so far, and whose next history entry
        was made by the same instruction, gives that entry and its layer. The image made of
        them carries this build's configuration. Sources that do not exist are ignored."""
        n = len(state.history)
        for name in opts.cache_from:
            try:
                src = self.store.get(self.store.resolve(name))
            except (NotFound, InvalidArgument):
                continue
            history = list(src.config.get("history") or [])
            diff_ids = list((src.config.get("rootfs") or {}).get("diff_ids") or [])
            if n >= len(history) or history[:n] != state.history or diff_ids[: len(state.diff_ids)] != state.diff_ids:
                continue
            entry = history[n]
            if entry.get("created_by") != created_by:
                continue
            layers_before = sum(1 for h in history[:n] if not h.get("empty_layer"))
            if not entry.get("empty_layer") and layers_before >= len(diff_ids):
                continue
            new_diffs = list(state.diff_ids) + ([] if entry.get("empty_layer") else [diff_ids[layers_before]])
            doc: dict[str, Any] = {
                "architecture": src.config.get("architecture") or go_arch(),
                "config": {k: v for k, v in config.items() if not k.startswith("_")},
                "created": entry.get("created") or rfc3339nano(now_ns()),
                "history": [*state.history, entry],
                "os": src.config.get("os") or "linux",
                "rootfs": {"type": "layers", "diff_ids": new_diffs},
            }
            return self.store.put_image(json.dumps(doc, separators=(",", ":")).encode(), parent=state.image_id or "")
        return None

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
            self.cache.remember(cache_key, image_id)
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
        if await self._cached(state, key, opts, emit, created_by=created_by):
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
        host_config = HostConfig(network_mode=opts.network_mode or "default", extra_hosts=opts.extra_hosts or None)
        c, _ = await self.lifecycle.create(name=None, config=config, host_config=host_config, build_step=True)
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
            if name not in COPY_FLAGS:
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
        src = await self._source(b, flags.get("from"))
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
            src, sources = Source(root=str(docs_dir)), [inline[w].name for w in sources]
        entries = await asyncio.to_thread(
            collect, node.cmd, src, sources, dest, flags, image_layers=self._layers(state)
        )
        key = self._key(state, f"{node.cmd.upper()} {node.flags} {dest}", extra=entries.content_hash)
        short = entries.content_hash[:16]
        created_by = f"{NOP}{node.cmd.upper()} {'dir' if entries.dirs else 'file'}:{short} in {dest} "
        if await self._cached(state, key, opts, emit, created_by=created_by):
            return
        layer = await asyncio.to_thread(self._write_layer, entries, state)
        await self._commit_config(state, created_by, empty=False, cache_key=key, layer_diff=layer)

    async def _source(self, b: _Build, from_value: str | None) -> Source:
        """Where COPY reads: the context, or another stage's or an image's layers."""
        if from_value is None:
            return Source(root=str(b.context.root))
        idx = stage_ref(from_value, b.plan.stages)
        if idx is not None:
            st = await b.results[idx]
            chains = dg.chain_ids(st.diff_ids)
        else:
            image_id = await self._resolve_image(from_value, b.opts, b.emit)
            chains = list(self.store.get(image_id).chain_ids)
        return Source(layers=tuple(str(self.store.snapshots.upper_dir(c)) for c in reversed(chains)))

    def _layers(self, state: _State) -> list[str]:
        """The stage's current image as layer directories, top first."""
        return [str(self.store.snapshots.upper_dir(c)) for c in reversed(dg.chain_ids(state.diff_ids))]

    def _write_layer(self, entries: CopyEntries, state: _State) -> str:
        with self.store.content.writer() as w:
            write_layer(entries, w, image_layers=self._layers(state))  # type: ignore[arg-type]
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

    def cache_usage(self) -> list[CacheRecord]:
        return self.cache.usage()

    def prune(self, *, all_: bool, filters: Any = None) -> tuple[list[str], int]:
        """Forget cache entries and remove the images only the cache kept."""
        removed: list[str] = []
        reclaimed = 0
        for key, image_id in self.cache.entries():
            self.cache.forget(key)
            removed.append(key[7:19])
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
            size = self.cache.top_size(image_id)
            try:
                self.images.remove(image_id, force=False, prune=True)
                reclaimed += size
            except BallenaError:
                pass
        return removed, reclaimed


def _nop_text(node: Node) -> str:
    rest = node.original.strip()[len(node.value) :].strip()
    return f"{NOP} {node.value.upper()} {rest}"


__all__ = ["BuildError", "BuildOptions", "BuildService", "ParseError"]


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
