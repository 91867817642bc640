"""A server-side picture of a graph neighbourhood: a radial layout drawn as inline SVG.

The centre entity sits in the middle, each hop further out on a ring; a ring's nodes are ordered
by the angle of the node that brought them in, so edges cross little. Labels run along the radius
(outwards, flipped on the left half so they read left to right), which keeps neighbours' labels
apart however many there are: the ring grows until each node has a label's height of arc.

Why not a browser library: the one we used (vis-network, ~870 KB) injects inline styles that the
CSP blocks, and a neighbourhood of at most a few hundred nodes needs no physics. The SVG uses
attributes and CSS classes only (no style attributes, no script), so the strict CSP holds, and the
colours come from the theme's variables (static/css/knowledge.css), light and dark alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlencode

from django.urls import reverse

from apps.knowledge.graph.port import EntityOut, Subgraph

RING = 170.0  # px between rings, room for a label
ARC_PER_NODE = 20.0  # px of arc a node needs on its ring (a label's height plus a gap)
LABEL_CHARS = 28
CHAR_WIDTH = 7.2  # px per character at the labels' 12px font (monospace-ish estimate)
KIND_CLASSES = 8  # colour classes kind-0 .. kind-7 in knowledge.css


@lru_cache(maxsize=1)
def _paths() -> tuple[str, str]:
    # Reversed once per process (a picture links every node twice; URLs do not change at run time).
    return reverse("entity_detail"), reverse("graph")


def entity_url(kind: str, value: str) -> str:
    return f"{_paths()[0]}?{urlencode({'kind': kind, 'value': value})}"


def graph_url(kind: str, value: str, depth: int | None = None) -> str:
    params = {"kind": kind, "value": value}
    if depth is not None:
        params["depth"] = str(depth)
    return f"{_paths()[1]}?{urlencode(params)}"


def kind_class(kind: str) -> str:
    # A stable colour per kind across pages and processes (hash() is salted per process).
    return f"kind-{sum(kind.encode()) % KIND_CLASSES}"


def short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class NodeView:
    id: str
    kind: str
    value: str
    depth: int
    count: int
    x: float = 0.0
    y: float = 0.0
    angle: float = 0.0  # radians, 0 = to the right
    url: str = ""
    graph_url: str = ""
    label: str = ""
    css: str = ""
    radius: float = 7.0
    label_transform: str = ""
    label_anchor: str = "start"
    label_dx: float = 12.0
    neighbours: list[str] = field(default_factory=list)

    @property
    def cx(self) -> str:
        return f"{self.x:.1f}"

    @property
    def cy(self) -> str:
        return f"{self.y:.1f}"


@dataclass
class EdgeView:
    source: NodeView
    target: NodeView
    type: str
    count: int

    @property
    def label(self) -> str:
        return self.type.replace("_", " ")

    @property
    def path(self) -> str:
        return f"M{self.source.x:.1f},{self.source.y:.1f} L{self.target.x:.1f},{self.target.y:.1f}"


@dataclass
class GraphPicture:
    nodes: list[NodeView]
    edges: list[EdgeView]
    view_box: str
    width: int
    truncated: bool


def node_id(entity: EntityOut) -> str:
    return f"{entity.kind}:{entity.normalized}"


def layout(subgraph: Subgraph, *, depth_param: int = 1) -> GraphPicture:
    nodes = {node_id(n): _node(n, depth_param) for n in subgraph.nodes}
    edges: list[EdgeView] = []
    for e in subgraph.edges:
        source = nodes.get(f"{e.source.kind}:{e.source.normalized}")
        target = nodes.get(f"{e.target.kind}:{e.target.normalized}")
        if source is None or target is None:
            continue
        edges.append(EdgeView(source, target, e.type, e.count))
        source.neighbours.append(target.id)
        target.neighbours.append(source.id)

    rings: dict[int, list[NodeView]] = {}
    for node in nodes.values():
        rings.setdefault(node.depth, []).append(node)
    outer = 0.0
    for depth in sorted(rings):
        ring = rings[depth]
        if depth == 0:
            for node in ring:
                node.radius = 11.0
                node.label_anchor, node.label_dx = "middle", 0.0
                node.label_transform = f"translate({node.x:.1f},{node.y + 26:.1f})"
            continue

        # Order by the angle of the nearest placed neighbour (the node one hop in), then by kind
        # and value so the picture is stable between loads.
        def parent_angle(node: NodeView, depth: int = depth) -> tuple[float, str, str]:
            angles = [nodes[n].angle for n in node.neighbours if nodes[n].depth == depth - 1]
            return (min(angles) if angles else 0.0, node.kind, node.value)

        ring.sort(key=parent_angle)
        radius = max(RING * depth, len(ring) * ARC_PER_NODE / (2 * math.pi))
        outer = max(outer, radius)
        for i, node in enumerate(ring):
            node.angle = 2 * math.pi * i / len(ring)
            node.x = radius * math.cos(node.angle)
            node.y = radius * math.sin(node.angle)
            _place_label(node)
    reach = outer + 14 + LABEL_CHARS * CHAR_WIDTH if outer else 120.0
    size = 2 * reach
    return GraphPicture(
        nodes=sorted(nodes.values(), key=lambda n: -n.depth),  # the centre drawn last, on top
        edges=edges,
        view_box=f"{-reach:.0f} {-reach:.0f} {size:.0f} {size:.0f}",
        width=int(size),
        truncated=subgraph.truncated,
    )


def _node(entity: EntityOut, depth_param: int) -> NodeView:
    return NodeView(
        id=node_id(entity),
        kind=entity.kind,
        value=entity.value,
        depth=entity.depth or 0,
        count=entity.count,
        url=entity_url(entity.kind, entity.value),
        graph_url=graph_url(entity.kind, entity.value, depth_param),
        label=short(entity.value),
        css=kind_class(entity.kind),
    )


def _place_label(node: NodeView) -> None:
    degrees = math.degrees(node.angle) % 360
    left = 90 < degrees < 270
    rotation = degrees + 180 if left else degrees
    node.label_anchor = "end" if left else "start"
    node.label_dx = -12.0 if left else 12.0
    node.label_transform = f"translate({node.x:.1f},{node.y:.1f}) rotate({rotation:.1f})"
