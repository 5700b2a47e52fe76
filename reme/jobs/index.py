"""The index jobs of ReMe 0.4.x: search (a rank decision), node_search, reindex, status, version, health_check,
graph_snapshot, and the index loop's steps.

``search`` answers as ReMe 0.4 does: one section per chunk, ``========== path:start-end [score=... vector=...
keyword=...] ==========`` then its text, then its links; ``metadata["results"]`` (``path``, ``start_line``,
``end_line``, ``text``, ``scores``), ``metadata["link_expansion"]``, ``metadata["counts"]``; and, added here, the
``decision_id`` of the ranking (for ``feedback``). While the workspace's rank policy is the heuristic the ranking
is ReMe 0.4's RRF (``RRFRankPolicy`` with the step's ``vector_weight``), or ReMe 0.3.1's score fusion with the
step option ``fusion: score`` (``HeuristicRankPolicy``: better on LoCoMo, see ``docs/migrating-from-reme.md``); an
activated learned head replaces either.
"""

from __future__ import annotations

import asyncio
import math
import os
from typing import Any

from reme.jobs.steps import JobRun
from reme.utils import human_bytes, render_expansion_lines

__all__ = ["STEPS", "link_expansion"]


def _links_of(run: JobRun, rel: str) -> list[str]:
    """The ``[[link]]`` targets of a note (the store's cached map for watched notes)."""
    return run.file_store.links().get(rel, [])


def link_expansion(run: JobRun, paths: list[str], per_direction: int) -> dict[str, dict[str, list[str]]]:
    """Each path's ``outlinks`` (the ``[[links]]`` it holds) and ``inlinks`` (the watched notes linking to it)."""
    links = run.file_store.links()
    out: dict[str, dict[str, list[str]]] = {}
    for path in paths:
        stem = path.removesuffix(".md")
        inlinks = [n for n, targets in links.items() if n != path and any(t in (path, stem) for t in targets)]
        out[path] = {"outlinks": links.get(path, [])[:per_direction], "inlinks": inlinks[:per_direction]}
    return out


def _day(value: Any) -> str | None:
    import datetime as dt

    text = str(value or "").strip()[:10]
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        return None


def search_filter(run: JobRun) -> dict[str, Any]:
    """ReMe 0.4's ``search_filter`` with ``start_date`` / ``end_date`` / ``strict_date_filter`` promoted into it
    (dates as YYYY-MM-DD; an invalid one is dropped)."""
    wanted = dict(run.arg("search_filter") or {})
    for key in ("start_date", "end_date"):
        if run.arg(key):
            wanted[key] = run.arg(key)
    for key in ("start_date", "end_date"):
        if key in wanted and _day(wanted[key]) is None:
            wanted.pop(key)
        elif key in wanted:
            wanted[key] = _day(wanted[key])
    if run.arg("strict_date_filter"):
        wanted["strict_date_filter"] = True
    return wanted


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def matches_filter(meta: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether a chunk passes ReMe 0.4's filter: ``path`` / ``paths`` (exact), ``path_prefix(es)`` / ``prefix(es)``,
    ``start_date`` / ``end_date`` against the date in the path's second segment (``daily/2026-05-18/x.md`` or
    ``daily/2026-05-18.md``; with ``strict_date_filter`` a chunk without one is excluded), ``metadata`` and any other
    key compared with the chunk's metadata (equal, or one of a list)."""
    path = str(meta.get("path", ""))
    for key in ("path", "paths"):
        if key in wanted and path not in _as_list(wanted[key]):
            return False
    for key in ("path_prefix", "path_prefixes", "prefix", "prefixes"):
        if key in wanted and not any(path.startswith(p) for p in _as_list(wanted[key])):
            return False
    if "start_date" in wanted or "end_date" in wanted:
        parts = path.split("/")
        day = _day(parts[1]) if len(parts) > 1 else None
        if day is None:
            if wanted.get("strict_date_filter"):
                return False
        elif (wanted.get("start_date") and day < wanted["start_date"]) or (
            wanted.get("end_date") and day > wanted["end_date"]
        ):
            return False
    reserved = {"path", "paths", "path_prefix", "path_prefixes", "prefix", "prefixes", "start_date", "end_date",
                "strict_date_filter", "metadata"}  # fmt: skip
    others = {**dict(wanted.get("metadata") or {}), **{k: v for k, v in wanted.items() if k not in reserved}}
    for key, value in others.items():
        got = meta.get(key)
        if (isinstance(value, list) and got not in value) or (not isinstance(value, list) and got != value):
            return False
    return True


def _fmt(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.4f}"


async def search_step(
    run: JobRun,
    vector_weight: float = 0.7,
    candidate_multiplier: float = 3.0,
    expand_links: bool = True,
    max_links_per_direction: int = 10,
    fusion: str = "rrf",
    **_: Any,
) -> None:
    from reme.policy.rank import HeuristicRankPolicy, RRFRankPolicy

    query = str(run.arg("query", "") or "").strip()
    if not query:
        return run.fail("query cannot be empty")
    limit = int(run.arg("limit") or os.environ.get("REME_SEARCH_LIMIT") or 5)
    if limit <= 0:
        return run.fail(f"limit must be positive, got {limit}")
    min_score = float(run.arg("min_score") or 0.0)
    given = run.arg("vector_weight")
    weight = min(1.0, max(0.0, float(given if isinstance(given, int | float) else vector_weight)))
    store = run.file_store
    heuristic = not store.memory.rank_policy.learned  # reme.yaml serves the heuristic (named, or as the default)
    if fusion not in ("rrf", "score"):
        return run.fail(f"fusion must be rrf (ReMe 0.4) or score (ReMe 0.3.1), got {fusion!r}")
    heuristic_cls = RRFRankPolicy if fusion == "rrf" else HeuristicRankPolicy
    policy = heuristic_cls(vector_weight=weight) if heuristic else None
    wanted = search_filter(run)
    asked = min(200, max(limit * 5, 50)) if wanted else min(limit, 200)  # a filter keeps a subset of the ranking
    decision, hits = await asyncio.to_thread(store.search, query, asked, policy)
    if wanted:
        hits = [h for h in hits if matches_filter(h.memory.metadata, wanted)][:limit]

    def shown(hit: Any) -> float:
        """ReMe's own value while its heuristic ranks (the RRF or fused score, as ReMe shows and thresholds it);
        under a learned head the fused score, never the head's logit (``SearchHit.score``)."""
        return float(hit.policy_score) if heuristic and hit.policy_score is not None else float(hit.score)

    if min_score > 0:
        hits = [h for h in hits if shown(h) >= min_score]
    hybrid = any(h.vector_score is not None for h in hits) and any(h.keyword_score is not None for h in hits)
    results, paths = [], []
    for hit in hits:
        meta = hit.memory.metadata
        path = str(meta.get("path", ""))
        scores: dict[str, float] = {"score": shown(hit)}
        if hit.vector_score is not None:
            scores["vector"] = float(hit.vector_score)
        if hit.keyword_score is not None:
            scores["keyword"] = float(hit.keyword_score)
        results.append({
            "id": hit.memory.memory_id, "text": hit.memory.content, "path": path,
            "start_line": int(meta.get("start_line", 1)), "end_line": int(meta.get("end_line", 1)),
            "scores": scores, "metadata": {"memory_id": hit.memory.memory_id},
        })  # fmt: skip
        if path not in paths:
            paths.append(path)
    expansion = link_expansion(run, paths, int(max_links_per_direction)) if expand_links else {}
    sections = []
    for row in results:
        label = f"score={row['scores']['score']:.4f}"
        if hybrid:
            label += f" vector={_fmt(row['scores'].get('vector'))} keyword={_fmt(row['scores'].get('keyword'))}"
        section = f"========== {row['path']}:{row['start_line']}-{row['end_line']} [{label}] ==========\n{row['text']}"
        lines = render_expansion_lines(expansion.get(row["path"], {}))
        sections.append(section + (f"\n{lines}" if lines else ""))
    run.response.answer = "\n".join(sections)
    run.response.metadata.update(
        results=results, link_expansion=expansion, decision_id=decision.decision_id, policy=decision.policy,
        counts={"vector": sum(h.vector_score is not None for h in hits),
                "keyword": sum(h.keyword_score is not None for h in hits), "returned": len(results), "hybrid": hybrid},
    )  # fmt: skip


async def node_search_step(run: JobRun, **options: Any) -> None:
    """``search`` restricted to the digest notes, one row per file (its name and description, no body)."""
    from reme.jobs.notes import read_note

    limit = int(run.arg("limit") or 20)
    inner = JobRun(run.app, run.job, {**run.kwargs, "limit": min(200, limit * 5)})
    await search_step(inner, expand_links=False)
    if not inner.response.success:
        run.response = inner.response
        return
    digest = run.folder("digest_dir").rstrip("/") + "/"
    rows: list[dict[str, Any]] = []
    for row in inner.response.metadata["results"]:
        if not row["path"].startswith(digest) or any(r["path"] == row["path"] for r in rows):
            continue
        meta, _ = read_note(run.root / row["path"]) if (run.root / row["path"]).is_file() else ({}, "")
        rows.append({"path": row["path"], "name": meta.get("name", ""), "description": meta.get("description", ""),
                     "score": row["scores"]["score"]})  # fmt: skip
    rows = rows[:limit]
    run.response.answer = "\n".join(f"- {r['path']} [{r['score']:.4f}] {r['name']}: {r['description']}" for r in rows)
    run.response.metadata.update(results=rows, decision_id=inner.response.metadata.get("decision_id"))


async def reindex_step(run: JobRun, **_: Any) -> None:
    scope = str(run.arg("scope", "all") or "all")
    result = await run.file_store.reindex(scope)
    run.response.answer = result
    run.response.metadata.update({**result, "scope": scope})


async def version_step(run: JobRun, **_: Any) -> None:
    from reme import __project_version__, __version__

    run.response.answer = __version__
    run.response.metadata.update(version=__version__, project_version=__project_version__)


async def health_check_step(run: JobRun, **_: Any) -> None:
    from reme import __version__

    store = run.file_store
    components = {"file_store": run.app.is_started, "as_llm": _llm_configured(run)}
    healthy = bool(components["file_store"]) and not getattr(store, "_closing", False)
    run.response.answer = f"{'✅' if healthy else '❌'} ReMe v{__version__} - {'healthy' if healthy else 'unhealthy'}"
    run.response.metadata["health"] = {"version": __version__, "healthy": healthy, "components": components}


def _llm_configured(run: JobRun) -> bool:
    try:
        llm = run.app.component("as_llm", "default")
    except KeyError:
        return False
    return getattr(llm, "model", None) is not None


def _size(path: Any) -> int:
    if path.is_file():
        return int(path.stat().st_size)
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


async def status_step(run: JobRun, **_: Any) -> None:
    """Memory in use: the index workspace's size on disk per component, and the process's resident set."""
    import resource

    store = run.file_store
    index_bytes = _size(store.index_dir / "index") + _size(store.index_dir / "memories.db")
    components = {"file_store": {store.name: {"bytes": index_bytes, "human": human_bytes(index_bytes)}}}
    rss = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    memory = {
        "components": components, "components_total_bytes": index_bytes,
        "components_total": human_bytes(index_bytes), "process_rss_bytes": rss, "process_rss": human_bytes(rss),
    }  # fmt: skip
    chunks = len(store.memory.records.list_nodes(store_target()))
    run.response.answer = (f"ReMe status: {chunks} chunk(s) indexed; index {human_bytes(index_bytes)}; "
                           f"process peak RSS {human_bytes(rss)}")  # fmt: skip
    run.response.metadata["status"] = {"memory": memory, "chunks": chunks}


def store_target() -> str:
    from reme.components.file_store import NOTES_TARGET

    return NOTES_TARGET


async def graph_snapshot_step(run: JobRun, **_: Any) -> None:
    """The digest notes (virtual bucket nodes and files) and their ``[[links]]``, version 1."""
    from reme.jobs.notes import read_note

    digest = run.folder("digest_dir")
    indexed = {str(n.metadata.get("path", "")) for n in run.file_store.memory.records.list_nodes(store_target())}
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for bucket in ("wiki", "personal", "procedure"):
        bucket_id = f"virtual:{bucket}"
        nodes.append({"id": bucket_id, "path": f"{digest}/{bucket}", "name": bucket, "description": "",
                      "indexed": False, "virtual": True})  # fmt: skip
        folder = run.root / digest / bucket
        for note in sorted(folder.rglob("*.md")) if folder.is_dir() else []:
            rel = note.relative_to(run.root).as_posix()
            meta, _body = read_note(note)
            nodes.append({"id": rel, "path": rel, "name": str(meta.get("name", "")),
                          "description": str(meta.get("description", "")), "indexed": rel in indexed,
                          "virtual": False})  # fmt: skip
            edges.append({"source": bucket_id, "target": rel, "target_anchor": None})
            for link in _links_of(run, rel):
                target = link if link.endswith(".md") else f"{link}.md"
                if (run.root / target).is_file():
                    edges.append({"source": rel, "target": target, "target_anchor": None})
    run.response.answer = {"version": 1, "nodes": nodes, "edges": edges}
    run.response.metadata.update(nodes=len(nodes), edges=len(edges))


async def clear_store_step(run: JobRun, **_: Any) -> None:
    removed = await run.file_store.clear()
    run.response.metadata["cleared"] = removed


async def traverse_step(run: JobRun, **_: Any) -> None:
    """The wikilink graph around ``path`` (a path or a list): notes up to ``depth`` hops away, following links
    ``forward`` (what a note links to), ``backward`` (what links to it) or ``both``; edges keep the link's
    direction. Answer: ``{"nodes": [{id, path, name, description, depth}], "edges": [{source, target}]}``."""
    from reme.jobs.notes import read_note, relative, resolve

    given = run.arg("path")
    seeds = [given] if isinstance(given, str) else list(given or [])
    if not seeds:
        return run.fail("path is required")
    direction = str(run.arg("direction", "both") or "both")
    if direction not in ("forward", "backward", "both"):
        return run.fail("direction must be forward, backward or both")
    depth = int(run.arg("depth", 1) if run.arg("depth") is not None else 1)
    links = run.file_store.links()
    known = set(links)
    outlinks = {n: [t if t.endswith(".md") else f"{t}.md" for t in targets] for n, targets in links.items()}
    inlinks: dict[str, list[str]] = {}
    for source, targets in outlinks.items():
        for target in targets:
            inlinks.setdefault(target, []).append(source)
    frontier = [relative(run, resolve(run, seed)) for seed in seeds]
    seen = {path: 0 for path in frontier}
    edges: set[tuple[str, str]] = set()
    for hop in range(1, depth + 1):
        nxt = []
        for path in frontier:
            steps = []
            if direction in ("forward", "both"):
                steps += [(path, t, t) for t in outlinks.get(path, [])]
            if direction in ("backward", "both"):
                steps += [(s, path, s) for s in inlinks.get(path, [])]
            for source, target, other in steps:
                edges.add((source, target))
                if other not in seen:
                    seen[other] = hop
                    nxt.append(other)
        frontier = nxt
    nodes = []
    for path, hops in sorted(seen.items(), key=lambda kv: (kv[1], kv[0])):
        meta = read_note(run.root / path)[0] if path in known or (run.root / path).is_file() else {}
        nodes.append({"id": path, "path": path, "name": str(meta.get("name", "")),
                      "description": str(meta.get("description", "")), "depth": hops,
                      "exists": (run.root / path).is_file()})  # fmt: skip
    run.response.answer = {"nodes": nodes, "edges": [{"source": a, "target": b} for a, b in sorted(edges)]}
    run.response.metadata.update(nodes=len(nodes), edges=len(edges))
    return None


async def init_changes_step(run: JobRun, **_: Any) -> None:
    stats = await asyncio.to_thread(run.file_store.sync)
    run.response.metadata["initial_sync"] = stats


async def watch_changes_step(run: JobRun, interval_s: float = 5.0, **_: Any) -> None:
    """One more sync (a background job re-runs its steps; the index also syncs before every search)."""
    stats = await asyncio.to_thread(run.file_store.sync)
    run.response.metadata["sync"] = stats


async def update_index_step(run: JobRun, **_: Any) -> None:
    stats = await asyncio.to_thread(run.file_store.sync)
    run.response.answer = f"indexed {stats['files']} file(s)"
    run.response.metadata.update(stats)


STEPS = {
    "search_step": search_step,
    "node_search_step": node_search_step,
    "reindex_step": reindex_step,
    "version_step": version_step,
    "health_check_step": health_check_step,
    "status_step": status_step,
    "graph_snapshot_step": graph_snapshot_step,
    "clear_store_step": clear_store_step,
    "traverse_step": traverse_step,
    "init_changes_step": init_changes_step,
    "watch_changes_step": watch_changes_step,
    "update_index_step": update_index_step,
}
